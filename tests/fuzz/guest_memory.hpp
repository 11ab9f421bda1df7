// A guest's memory for the virtio harnesses: an anonymous memory file
// (memfd_create), which the production code maps from its fd as it maps
// what a front-end sends with SET_MEM_TABLE or what the hypervisor gives a
// domain, so the harness runs the real mapping code against an in-process
// object that leaves nothing behind.
#pragma once

#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <system_error>

#include "common/os/unique_fd.hpp"

namespace pvsim::fuzz {

inline os::UniqueFd memory_file(std::size_t bytes) {
    os::UniqueFd fd(::memfd_create("pvsim-fuzz", MFD_CLOEXEC));
    if (!fd || ::ftruncate(fd.get(), static_cast<off_t>(bytes)) != 0) {
        throw std::system_error(errno, std::system_category(), "memfd_create");
    }
    return fd;
}

}  // namespace pvsim::fuzz
