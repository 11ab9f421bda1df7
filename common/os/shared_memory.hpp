// POSIX shared-memory objects (Boost.Interprocess), the substrate of every
// page two pvsim processes share: a domain's pseudo-physical memory, its grant
// table frames and shared_info (DESIGN.md §3).
//
// Objects are named "pvsim.<run-tag>.<what>", the run tag standing for one
// run directory (RunDir::shm_tag), so that several simulations coexist on a
// machine and `pvsim down` can remove exactly one run's objects, including
// those a crashed process left behind.
#pragma once

#include <cstddef>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/os/unique_fd.hpp"

namespace pvsim::os {

inline constexpr std::string_view kShmNamePrefix = "pvsim.";

// "pvsim.<run_tag>.<what>". The tag may not contain '.' or '/', `what` may not
// contain '/'; neither may be empty. Throws std::invalid_argument otherwise.
std::string shm_name(std::string_view run_tag, std::string_view what);

enum class ShmAccess { read_write, read_only };

class SharedMemory {
  public:
    // Creates the object exclusively (fails with EEXIST if the name is
    // taken), mode 0600, `size` bytes (> 0) of zeros, and maps it read/write.
    // The creator is the owner: the name is removed when it is destroyed.
    static SharedMemory create(const std::string& name, std::size_t size);

    // An object with no name (memfd_create(2)), `size` bytes (> 0) of zeros,
    // mapped read/write: shared only by sending its fd, and gone with its
    // last fd and mapping, so that nothing of it can outlive its users in
    // /dev/shm. `label` shows in /proc/PID/maps as "/memfd:<label>".
    static SharedMemory create_anonymous(const std::string& label, std::size_t size);

    // Opens and maps the whole of an existing object. Not the owner.
    static SharedMemory open(const std::string& name, ShmAccess access = ShmAccess::read_write);

    // Maps the whole of an object received as an fd (SCM_RIGHTS or
    // inherited). It has no name here, so there is nothing to own.
    static SharedMemory map_fd(UniqueFd fd, ShmAccess access = ShmAccess::read_write);

    // A moved-from object maps nothing: data() is null, size() and fd() are
    // 0 and -1, name() is empty, and destroying it removes nothing.
    SharedMemory(SharedMemory&& other) noexcept;
    SharedMemory& operator=(SharedMemory&& other) noexcept;
    ~SharedMemory();

    std::byte* data() const noexcept { return data_; }
    std::size_t size() const noexcept { return size_; }
    std::span<std::byte> bytes() const noexcept { return {data_, size_}; }
    ShmAccess access() const noexcept;

    // The object's fd (Boost's get_mapping_handle), valid while this lives:
    // what is sent over SCM_RIGHTS to share the memory with another process
    // (vhost-user SET_MEM_TABLE). Close-on-exec.
    int fd() const noexcept;

    // The name without the leading '/', empty when mapped from an fd.
    const std::string& name() const noexcept;

    // Whether destruction removes the name (the mapping of other processes
    // stays valid; only the name goes). Ownership can be handed off, e.g.
    // to keep an object alive past this process for someone else to remove.
    bool owner() const noexcept;
    void set_owner(bool owner) noexcept;

  private:
    struct Impl;
    explicit SharedMemory(std::unique_ptr<Impl> impl);

    std::unique_ptr<Impl> impl_;
    std::byte* data_ = nullptr;
    std::size_t size_ = 0;
};

// Names of the run's objects present now, sorted.
std::vector<std::string> list_run_shm(std::string_view run_tag);

// Removes every object of the run (for `pvsim down` and hypervisor stop);
// returns how many names were removed. Processes that still map one keep
// their mapping until they unmap it.
std::size_t remove_run_shm(std::string_view run_tag);

}  // namespace pvsim::os
