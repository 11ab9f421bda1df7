// What one `pvsim io` job does, in fio's option names and meanings (fio(1),
// "JOB PARAMETERS": rw, bs, iodepth, offset, size, io_size, runtime,
// startdelay, rwmixread, numjobs, randseed, verify, sync), so that people's habits carry over
// (DESIGN.md §7), and the checks that keep a job inside its device.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace pvsim::frontend::workload {

// fio's rw=: sequential or random, reads, writes or a mix of both; or trims
// (discards: BlockOperation::discard), sequential or random; or trimwrite,
// which trims each block of a sequential pass and then writes it.
enum class RwMode { read, write, randread, randwrite, rw, randrw, trim, randtrim, trimwrite };

// "read", "write", "randread", "randwrite", "rw" (or fio's "readwrite"),
// "randrw", "trim", "randtrim", "trimwrite". Throws ParseError
// (common/units.hpp) naming the text and the accepted values.
RwMode parse_rw(std::string_view text);
std::string_view to_string(RwMode mode);

bool is_random(RwMode mode) noexcept;
bool does_read(RwMode mode) noexcept;
bool does_write(RwMode mode) noexcept;
bool does_trim(RwMode mode) noexcept;

// The unit of every offset and length on a BlockDevice (blkif and
// virtio-blk count 512-byte sectors).
inline constexpr std::uint64_t kSectorSize = 512;
inline constexpr std::uint64_t kMaxBlockSize = 4 * 1024 * 1024;
inline constexpr std::uint32_t kMaxIodepth = 1024;
inline constexpr std::uint32_t kMaxNumjobs = 256;

struct JobOptions {
    std::string name = "pvsim";  // fio's jobname
    RwMode rw = RwMode::read;
    std::uint64_t bs = 4096;  // bytes, a multiple of the sector size
    std::uint32_t iodepth = 1;
    std::uint64_t offset = 0;  // bytes, a multiple of the sector size
    // Bytes each job covers (a multiple of bs); default: (capacity - offset)
    // / numjobs, rounded down to a multiple of bs.
    std::optional<std::uint64_t> size;
    // Bytes each job transfers, looping over its region (a multiple of bs);
    // default: size, unless the job is time based.
    std::optional<std::uint64_t> io_size;
    // Time limit; with no io_size the job is time based (fio's time_based).
    std::optional<std::chrono::nanoseconds> runtime;
    // fio's startdelay: the jobs start this long after the run was asked
    // for; their runtime counts from then. fio counts it from its own start
    // (its genesis); `pvsim io` sends what is left of it once it reaches the
    // guest, so that jobs started by several commands at once start together
    // however long each command took to get there.
    std::chrono::nanoseconds startdelay{0};
    std::uint32_t rwmixread = 50;  // percent reads for rw and randrw
    std::uint32_t numjobs = 1;
    std::uint64_t seed = 0x89abcdef;  // fio's randseed
    bool verify = false;              // fio's --verify=crc32c
    // fio's --sync=1 (or sync, dsync): writes are synchronous, which for a
    // direct write to a block device Linux sends as REQ_FUA (block/fops.c
    // dio_bio_write_op), so each write is a BlockRequest with fua.
    bool sync = false;
    // fio's --group_reporting: the jobs are reported as one (their I/Os,
    // bytes and latencies together, the longest runtime), under the first
    // job's name.
    bool group_reporting = false;
};

// Checks the options against a device of `capacity_bytes`: sizes and
// alignment, each job's region inside the device, bs <= 4 MiB, iodepth
// 1..1024, numjobs 1..256, rwmixread <= 100. Throws std::invalid_argument
// whose message starts with the option's fio name ("bs: ...").
void validate(const JobOptions& options, std::uint64_t capacity_bytes);

// The bytes each job covers: `size`, or its default. Assumes validate().
std::uint64_t job_size(const JobOptions& options, std::uint64_t capacity_bytes) noexcept;

// How many I/Os each job issues before it stops, or nullopt when only the
// runtime stops it (fio's time_based). Assumes validate().
std::optional<std::uint64_t> job_io_limit(const JobOptions& options,
                                          std::uint64_t capacity_bytes) noexcept;

}  // namespace pvsim::frontend::workload
