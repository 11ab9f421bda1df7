// Programs the CLI starts that are not pvsim's (qemu-storage-daemon, fio):
// where they are installed, and whether one it started has ended. The CLI
// ignores SIGCHLD (tools/main.cpp), so the kernel reaps its children itself
// and an exit status is not always there to read: these helpers treat
// "already reaped" as ended, and the caller judges the run by its output.
#pragma once

#include <sys/types.h>

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

namespace pvsim::tools::cli {

// Where `program` is on $PATH (searched as execvp does), nullopt when it is
// not installed.
std::optional<std::filesystem::path> find_program(std::string_view program);

// Whether the child `pid` has ended (and is reaped). Never blocks.
bool child_ended(pid_t pid);

// The last `bytes` of a log file, for an error message.
std::string log_tail(const std::filesystem::path& log, std::size_t bytes = 2000);

}  // namespace pvsim::tools::cli
