// A vbd's backing store (DESIGN.md §5): a raw image file or a block device,
// opened with the access mode the vbd asks for, and what blkback publishes
// about it at Connected (xen/io/blkif.h "Backend Device Properties", as
// Linux's xen-blkback/xenbus.c connect() fills them):
//   sectors               size in 512-byte sectors (Linux writes the
//                         capacity in 512-byte units whatever sector-size is)
//   sector-size           logical block size: BLKSSZGET on a device
//   physical-sector-size  BLKPBSZGET on a device
//   feature-discard, discard-granularity, discard-alignment
//   feature-flush-cache   whether the store has a volatile write cache
// An image file gets what Linux blkback publishes for it when it serves the
// file through a loop device (drivers/block/loop.c): 512-byte logical and
// physical sectors (with O_DIRECT, the file system's direct-I/O alignment,
// statx STATX_DIOALIGN), discard by hole punching with the file system's
// block size as granularity, and a write cache while writable.
#pragma once

#include <cstdint>
#include <filesystem>

#include "backend/storage/io_engine.hpp"
#include "common/os/unique_fd.hpp"

namespace pvsim::backend::storage {

inline constexpr std::uint32_t kSectorSize = 512;

// blkback's vbd "mode": "r" or "w" (libxl's access=ro / rw).
enum class Access { read_only, read_write };

struct OpenOptions {
    Access access = Access::read_write;
    // O_DIRECT: bypass the page cache. I/O must then be aligned to
    // logical_sector_size() in offset, length and memory.
    bool direct = false;
};

class BackingStore {
  public:
    // Opens `path`, which must be a regular file or a block device whose size
    // is a whole number of 512-byte sectors. Throws std::system_error when a
    // system call fails ("cannot open /x/y: No such file or directory",
    // "cannot open /x: Is a directory") and std::runtime_error for a file of
    // the wrong kind or size, naming the path either way.
    static BackingStore open(const std::filesystem::path& path, const OpenOptions& options = {});

    BackingStore(BackingStore&&) noexcept = default;
    BackingStore& operator=(BackingStore&&) noexcept = default;
    BackingStore(const BackingStore&) = delete;
    BackingStore& operator=(const BackingStore&) = delete;
    ~BackingStore() = default;

    const std::filesystem::path& path() const noexcept { return path_; }
    int fd() const noexcept { return fd_.get(); }
    // What an I/O engine needs; valid while this store lives.
    IoTarget io_target() const noexcept { return IoTarget{fd_.get(), block_device_}; }

    bool is_block_device() const noexcept { return block_device_; }
    bool read_only() const noexcept { return read_only_; }
    bool direct() const noexcept { return direct_; }

    std::uint64_t size_bytes() const noexcept { return size_bytes_; }
    std::uint64_t sectors() const noexcept { return size_bytes_ / kSectorSize; }
    std::uint32_t logical_sector_size() const noexcept { return logical_sector_size_; }
    std::uint32_t physical_sector_size() const noexcept { return physical_sector_size_; }

    bool discard_supported() const noexcept { return discard_supported_; }
    // Bytes; meaningful when discard is supported.
    std::uint32_t discard_granularity() const noexcept { return discard_granularity_; }
    std::uint32_t discard_alignment() const noexcept { return discard_alignment_; }

    // Writes may sit in a volatile cache until a flush (feature-flush-cache).
    bool write_cache() const noexcept { return write_cache_; }

    // A block device whose disk has removable media (GENHD_FL_REMOVABLE, as
    // sysfs `removable` shows it; a partition's is its disk's), which
    // blkback reports as VDISK_REMOVABLE (xen_vbd_create). Never a file.
    bool removable() const noexcept { return removable_; }

    // Reads the size again (fstat of a file, BLKGETSIZE64 of a device),
    // as Linux blkback's vbd_sz reads the device's capacity live: the
    // target may have grown or shrunk since it was opened (truncate(1),
    // lvextend, losetup -c). A size that is no longer a whole number of
    // 512-byte sectors counts its whole sectors only, as the block layer's
    // capacity does. Returns whether it changed. Throws std::system_error
    // when the system call fails (the size is left as it was). One system
    // call: for the control plane's periodic check, never per request.
    bool refresh_size();

  private:
    BackingStore() = default;
    void describe_file(const OpenOptions& options);
    void describe_block_device();
    std::uint64_t read_size_bytes() const;

    std::filesystem::path path_;
    os::UniqueFd fd_;
    bool block_device_ = false;
    bool read_only_ = false;
    bool direct_ = false;
    std::uint64_t size_bytes_ = 0;
    std::uint32_t logical_sector_size_ = kSectorSize;
    std::uint32_t physical_sector_size_ = kSectorSize;
    bool discard_supported_ = false;
    bool removable_ = false;
    std::uint32_t discard_granularity_ = kSectorSize;
    std::uint32_t discard_alignment_ = 0;
    bool write_cache_ = false;
};

}  // namespace pvsim::backend::storage
