#include "common/os/shared_memory.hpp"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <filesystem>
#include <limits>
#include <stdexcept>
#include <system_error>
#include <utility>

#include <boost/interprocess/exceptions.hpp>
#include <boost/interprocess/mapped_region.hpp>
#include <boost/interprocess/permissions.hpp>
#include <boost/interprocess/shared_memory_object.hpp>

namespace pvsim::os {
namespace bip = boost::interprocess;

namespace {

// Where glibc's shm_open keeps POSIX shared-memory objects on Linux; Boost
// names them "/<name>", which lands here as <name>.
constexpr const char* kShmDirectory = "/dev/shm";

// Run-private: the run directory is 0700 and its memory should be no less.
constexpr unsigned kShmMode = 0600;

// Boost reports errors as interprocess_exception; pvsim reports every failing
// system call as std::system_error naming the call and the object.
[[noreturn]] void rethrow(const bip::interprocess_exception& e, const std::string& what) {
    if (const int native = e.get_native_error(); native != 0) {
        throw std::system_error(native, std::system_category(), what);
    }
    throw std::system_error(std::make_error_code(std::errc::invalid_argument),
                            what + " (" + e.what() + ")");
}

void check_name(const std::string& name) {
    if (name.empty() || name.find('/') != std::string::npos || name.size() > 250) {
        throw std::invalid_argument("invalid shared-memory name \"" + name +
                                    "\": expected 1-250 characters without '/'");
    }
}

bip::mode_t boost_mode(ShmAccess access) {
    return access == ShmAccess::read_only ? bip::read_only : bip::read_write;
}

// Boost's mapped_region maps anything with get_mapping_handle(); this is the
// adapter for a shared-memory fd that arrived without a name.
struct ReceivedObject {
    int fd;
    bip::mapping_handle_t get_mapping_handle() const {
        bip::mapping_handle_t handle;
        handle.handle = fd;
        handle.is_xsi = false;
        return handle;
    }
};

// "pvsim.<run_tag>.": what every name of the run starts with.
std::string run_prefix(std::string_view run_tag) {
    if (run_tag.empty() || run_tag.find_first_of("./") != std::string_view::npos) {
        throw std::invalid_argument("invalid shared-memory run tag \"" + std::string(run_tag) +
                                    "\": expected a non-empty tag without '.' or '/'");
    }
    std::string prefix(kShmNamePrefix);
    prefix.append(run_tag).append(".");
    return prefix;
}

}  // namespace

std::string shm_name(std::string_view run_tag, std::string_view what) {
    std::string name = run_prefix(run_tag);
    if (what.empty() || what.find('/') != std::string_view::npos) {
        throw std::invalid_argument("invalid shared-memory object name \"" + std::string(what) +
                                    "\": expected a non-empty name without '/'");
    }
    return name.append(what);
}

struct SharedMemory::Impl {
    std::string name;
    bip::shared_memory_object object;  // named objects
    UniqueFd received;                 // objects mapped from an fd
    bip::mapped_region region;
    ShmAccess access = ShmAccess::read_write;
    bool owner = false;

    ~Impl() {
        if (owner) {
            bip::shared_memory_object::remove(name.c_str());
        }
    }
};

SharedMemory::SharedMemory(std::unique_ptr<Impl> impl)
    : impl_(std::move(impl)),
      data_(static_cast<std::byte*>(impl_->region.get_address())),
      size_(impl_->region.get_size()) {}

SharedMemory::SharedMemory(SharedMemory&& other) noexcept
    : impl_(std::move(other.impl_)),
      data_(std::exchange(other.data_, nullptr)),
      size_(std::exchange(other.size_, 0)) {}

SharedMemory& SharedMemory::operator=(SharedMemory&& other) noexcept {
    if (this != &other) {
        impl_ = std::move(other.impl_);
        data_ = std::exchange(other.data_, nullptr);
        size_ = std::exchange(other.size_, 0);
    }
    return *this;
}

SharedMemory::~SharedMemory() = default;

SharedMemory SharedMemory::create(const std::string& name, std::size_t size) {
    check_name(name);
    if (size == 0 || size > static_cast<std::size_t>(std::numeric_limits<bip::offset_t>::max())) {
        throw std::system_error(
            std::make_error_code(std::errc::invalid_argument),
            "shm create " + name + ": size " + std::to_string(size) + " out of range");
    }
    auto impl = std::make_unique<Impl>();
    impl->name = name;
    try {
        impl->object = bip::shared_memory_object(bip::create_only, name.c_str(), bip::read_write,
                                                 bip::permissions(kShmMode));
    } catch (const bip::interprocess_exception& e) {
        rethrow(e, "shm_open " + name);
    }
    impl->owner = true;  // from here on, a failure removes the name again
    try {
        impl->object.truncate(static_cast<bip::offset_t>(size));
    } catch (const bip::interprocess_exception& e) {
        rethrow(e, "ftruncate " + name);
    }
    try {
        impl->region = bip::mapped_region(impl->object, bip::read_write, 0, size);
    } catch (const bip::interprocess_exception& e) {
        rethrow(e, "mmap " + name);
    }
    return SharedMemory(std::move(impl));
}

SharedMemory SharedMemory::open(const std::string& name, ShmAccess access) {
    check_name(name);
    auto impl = std::make_unique<Impl>();
    impl->name = name;
    impl->access = access;
    try {
        impl->object = bip::shared_memory_object(bip::open_only, name.c_str(), boost_mode(access));
    } catch (const bip::interprocess_exception& e) {
        rethrow(e, "shm_open " + name);
    }
    try {
        impl->region = bip::mapped_region(impl->object, boost_mode(access));
    } catch (const bip::interprocess_exception& e) {
        rethrow(e, "mmap " + name);
    }
    return SharedMemory(std::move(impl));
}

SharedMemory SharedMemory::create_anonymous(const std::string& label, std::size_t size) {
    if (size == 0) {  // as create() refuses it
        throw std::system_error(EINVAL, std::system_category(), "memfd " + label + ": size 0");
    }
    UniqueFd fd(::memfd_create(label.c_str(), MFD_CLOEXEC));
    if (!fd) {
        throw_system_error("memfd_create " + label);
    }
    if (::ftruncate(fd.get(), static_cast<off_t>(size)) != 0) {
        throw_system_error("ftruncate " + label);
    }
    return map_fd(std::move(fd));
}

SharedMemory SharedMemory::map_fd(UniqueFd fd, ShmAccess access) {
    const std::string what = "mmap shared-memory fd " + std::to_string(fd.get());
    if (!fd) {
        throw std::system_error(EBADF, std::system_category(), what);
    }
    auto impl = std::make_unique<Impl>();
    impl->access = access;
    impl->received = std::move(fd);
    try {
        impl->region = bip::mapped_region(ReceivedObject{impl->received.get()}, boost_mode(access));
    } catch (const bip::interprocess_exception& e) {
        rethrow(e, what);
    }
    return SharedMemory(std::move(impl));
}

ShmAccess SharedMemory::access() const noexcept {
    return impl_ ? impl_->access : ShmAccess::read_only;
}

int SharedMemory::fd() const noexcept {
    if (!impl_) {
        return -1;
    }
    if (impl_->received) {
        return impl_->received.get();
    }
    return impl_->object.get_mapping_handle().handle;
}

const std::string& SharedMemory::name() const noexcept {
    static const std::string kNoName;
    return impl_ ? impl_->name : kNoName;
}

bool SharedMemory::owner() const noexcept {
    return impl_ && impl_->owner;
}

void SharedMemory::set_owner(bool owner) noexcept {
    if (impl_ && !impl_->name.empty()) {
        impl_->owner = owner;
    }
}

std::vector<std::string> list_run_shm(std::string_view run_tag) {
    const std::string prefix = run_prefix(run_tag);
    std::vector<std::string> names;
    std::error_code ec;
    for (std::filesystem::directory_iterator it(kShmDirectory, ec), end; !ec && it != end;
         it.increment(ec)) {
        std::string name = it->path().filename().string();
        if (name.starts_with(prefix)) {
            names.push_back(std::move(name));
        }
    }
    if (ec && ec != std::errc::no_such_file_or_directory) {
        throw std::system_error(ec, std::string("list ") + kShmDirectory);
    }
    std::sort(names.begin(), names.end());
    return names;
}

std::size_t remove_run_shm(std::string_view run_tag) {
    std::size_t removed = 0;
    for (const std::string& name : list_run_shm(run_tag)) {
        if (bip::shared_memory_object::remove(name.c_str())) {
            ++removed;
        }
    }
    return removed;
}

}  // namespace pvsim::os
