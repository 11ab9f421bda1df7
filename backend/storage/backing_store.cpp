#include "backend/storage/backing_store.hpp"

#include <fcntl.h>
#include <linux/falloc.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <cerrno>
#include <fstream>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>

namespace pvsim::backend::storage {
namespace {

// One line of a sysfs attribute of the device `rdev`
// (/sys/dev/block/MAJ:MIN/<name>); nullopt when there is no such file.
std::optional<std::string> read_sysfs(dev_t rdev, const std::string& name) {
    const std::string path = "/sys/dev/block/" + std::to_string(major(rdev)) + ":" +
                             std::to_string(minor(rdev)) + "/" + name;
    std::ifstream in(path);
    std::string line;
    if (!in || !std::getline(in, line)) {
        return std::nullopt;
    }
    return line;
}

// A partition has no queue/ of its own: its disk's applies (the parent
// directory in sysfs).
std::optional<std::string> read_queue_attribute(dev_t rdev, const std::string& name) {
    if (auto value = read_sysfs(rdev, "queue/" + name)) {
        return value;
    }
    return read_sysfs(rdev, "../queue/" + name);
}

std::optional<std::uint64_t> to_number(const std::optional<std::string>& text) {
    if (!text) {
        return std::nullopt;
    }
    try {
        std::size_t used = 0;
        const unsigned long long value = std::stoull(*text, &used);
        return used == 0 ? std::nullopt : std::optional<std::uint64_t>(value);
    } catch (const std::exception&) {
        return std::nullopt;
    }
}

template <typename T>
T device_ioctl(int fd, unsigned long request, const char* name, const std::filesystem::path& path) {
    T value{};
    if (::ioctl(fd, request, &value) < 0) {
        os::throw_system_error(std::string(name) + " " + path.string());
    }
    return value;
}

// The smallest direct-I/O alignment of a file (Linux 6.1+), which the loop
// driver takes as its block size for a file opened with O_DIRECT.
std::uint32_t direct_io_alignment(int fd) {
#ifdef STATX_DIOALIGN
    struct statx info {};
    if (::statx(fd, "", AT_EMPTY_PATH, STATX_DIOALIGN, &info) == 0 &&
        (info.stx_mask & STATX_DIOALIGN) != 0 && info.stx_dio_offset_align > kSectorSize) {
        return info.stx_dio_offset_align;
    }
#else
    (void)fd;
#endif
    return kSectorSize;
}

// Whether the file system punches holes: a punch wholly past the end of the
// file (with KEEP_SIZE) changes no data, yet is refused with EOPNOTSUPP
// where hole punching is not implemented.
bool punches_holes(int fd, std::uint64_t size, std::uint32_t granularity) {
    const std::uint64_t past_end = (size / granularity + 1) * granularity;
    return ::fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, static_cast<off_t>(past_end),
                       granularity) == 0;
}

}  // namespace

BackingStore BackingStore::open(const std::filesystem::path& path, const OpenOptions& options) {
    BackingStore store;
    store.path_ = path;
    store.read_only_ = options.access == Access::read_only;
    store.direct_ = options.direct;

    int flags = (store.read_only_ ? O_RDONLY : O_RDWR) | O_CLOEXEC;
    if (options.direct) {
        flags |= O_DIRECT;
    }
    store.fd_.reset(::open(path.c_str(), flags));
    if (!store.fd_) {
        os::throw_system_error("cannot open " + path.string() +
                               (options.direct ? " with O_DIRECT" : ""));
    }

    struct stat info {};
    if (::fstat(store.fd_.get(), &info) < 0) {
        os::throw_system_error("fstat " + path.string());
    }
    if (S_ISDIR(info.st_mode)) {
        throw std::system_error(EISDIR, std::system_category(), "cannot open " + path.string());
    }
    if (S_ISBLK(info.st_mode)) {
        store.block_device_ = true;
        store.describe_block_device();
    } else if (S_ISREG(info.st_mode)) {
        store.size_bytes_ = static_cast<std::uint64_t>(info.st_size);
        store.describe_file(options);
    } else {
        throw std::runtime_error("cannot open " + path.string() +
                                 ": not a regular file or block device");
    }

    if (store.size_bytes_ % kSectorSize != 0) {
        throw std::runtime_error("cannot use " + path.string() + ": its size, " +
                                 std::to_string(store.size_bytes_) +
                                 " bytes, is not a whole number of 512-byte sectors");
    }
    return store;
}

std::uint64_t BackingStore::read_size_bytes() const {
    if (block_device_) {
        return device_ioctl<std::uint64_t>(fd_.get(), BLKGETSIZE64, "BLKGETSIZE64", path_);
    }
    struct stat info {};
    if (::fstat(fd_.get(), &info) < 0) {
        os::throw_system_error("fstat " + path_.string());
    }
    return static_cast<std::uint64_t>(info.st_size);
}

bool BackingStore::refresh_size() {
    const std::uint64_t bytes = read_size_bytes() / kSectorSize * kSectorSize;
    return std::exchange(size_bytes_, bytes) != bytes;
}

void BackingStore::describe_file(const OpenOptions& options) {
    logical_sector_size_ = options.direct ? direct_io_alignment(fd_.get()) : kSectorSize;
    physical_sector_size_ = logical_sector_size_;
    discard_alignment_ = 0;
    struct statfs fs {};
    discard_granularity_ = kSectorSize;
    if (::fstatfs(fd_.get(), &fs) == 0 && fs.f_bsize > 0) {
        discard_granularity_ = static_cast<std::uint32_t>(fs.f_bsize);
    }
    discard_supported_ = !read_only_ && punches_holes(fd_.get(), size_bytes_, discard_granularity_);
    write_cache_ = !read_only_;
}

void BackingStore::describe_block_device() {
    const int fd = fd_.get();
    if (!read_only_ && device_ioctl<int>(fd, BLKROGET, "BLKROGET", path_) != 0) {
        throw std::system_error(EROFS, std::system_category(),
                                "cannot open " + path_.string() + " for writing");
    }
    size_bytes_ = read_size_bytes();
    logical_sector_size_ =
        static_cast<std::uint32_t>(device_ioctl<int>(fd, BLKSSZGET, "BLKSSZGET", path_));
    physical_sector_size_ = device_ioctl<unsigned int>(fd, BLKPBSZGET, "BLKPBSZGET", path_);

    // What the block layer reports about discard and caching lives in sysfs
    // only; without sysfs the device is taken not to discard and to cache.
    struct stat info {};
    if (::fstat(fd, &info) < 0) {
        os::throw_system_error("fstat " + path_.string());
    }
    const auto max_discard = to_number(read_queue_attribute(info.st_rdev, "discard_max_bytes"));
    discard_supported_ = !read_only_ && max_discard.value_or(0) > 0;
    discard_granularity_ = static_cast<std::uint32_t>(
        to_number(read_queue_attribute(info.st_rdev, "discard_granularity"))
            .value_or(logical_sector_size_));
    if (discard_granularity_ == 0) {
        discard_granularity_ = logical_sector_size_;
    }
    discard_alignment_ = static_cast<std::uint32_t>(
        to_number(read_sysfs(info.st_rdev, "discard_alignment")).value_or(0));
    const auto cache = read_queue_attribute(info.st_rdev, "write_cache");
    write_cache_ = !read_only_ && (!cache || *cache != "write through");
    // disk_removable_show: the gendisk's GENHD_FL_REMOVABLE; a partition's
    // directory has none, its disk's (the parent) has it.
    auto removable = to_number(read_sysfs(info.st_rdev, "removable"));
    if (!removable) {
        removable = to_number(read_sysfs(info.st_rdev, "../removable"));
    }
    removable_ = removable.value_or(0) == 1;
}

}  // namespace pvsim::backend::storage
