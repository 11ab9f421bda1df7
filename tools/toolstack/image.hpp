// A sparse raw image file, the usual target of a DISKSPEC (`truncate -s`).
#pragma once

#include <cstdint>
#include <filesystem>

namespace pvsim::tools::toolstack {

// Creates `path` with `bytes` of holes; throws std::system_error naming the
// path when it exists already or cannot be made.
void make_image(const std::filesystem::path& path, std::uint64_t bytes);

}  // namespace pvsim::tools::toolstack
