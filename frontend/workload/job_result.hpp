// What a run reports, shaped as fio's JSON output (jobs[].read, jobs[].write,
// jobs[].trim, clat_ns, ...; result_json.hpp) where a field means the same,
// plus pvsim's verify counts and error texts.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "frontend/workload/latency_histogram.hpp"

namespace pvsim::frontend::workload {

// A series of rate samples as fio 3.33 keeps one (its io_stat: min, max,
// the mean and the sum of squared deviations, the count).
struct RateSamples {
    std::uint64_t min = 0, max = 0, count = 0;
    double mean = 0, m2 = 0;

    void add(std::uint64_t value);
    // fio's sum_stat with pure_sum, as group_reporting sums a job's bw and
    // iops samples into the group's: the jobs' rates add up.
    void sum(const RateSamples& other);
    // fio's calc_lat: the sample standard deviation (0 below two samples).
    double stddev() const;
};

// fio's jobs[].read / jobs[].write / jobs[].trim (a trim's io_bytes are the
// bytes it discarded). `bw_kib` and `iops_samples` are fio's bw and iops
// samples: one per 500 ms (fio's bw_avg_time and iops_avg_time) of the
// direction's phase, in KiB/s and I/Os per second.
struct DirectionResult {
    std::uint64_t io_bytes = 0, total_ios = 0;
    std::uint64_t runtime_ms = 0;
    double iops = 0, bw_bytes = 0;  // per second
    LatencyStats clat;
    RateSamples bw_kib, iops_samples;
};

// Blocks a verifying read compared against what was last written there, and
// blocks it found never written with verify in this disk's life under pvsim
// (their data cannot be predicted, so only their reading is checked).
// `read_back`: the job does not read, so its reads are its verify pass over
// what it wrote (fio's do_verify, which fio reports as the job's reads).
struct VerifyResult {
    bool enabled = false, read_back = false;
    std::uint64_t blocks_checked = 0, blocks_unwritten = 0;
};

struct JobResult {
    std::string name;
    std::uint32_t jobnum = 0;
    DirectionResult read, write, trim;
    VerifyResult verify;
    std::uint64_t elapsed_ms = 0;
    std::string error;  // empty when it passed: the first I/O error or verify mismatch
    // fio's td->error, an errno: the failed request's (-EIO: 5), EILSEQ for a
    // verify mismatch (fio 3.33 reports 84 for a corrupted crc32c block), 0
    // when it passed or was cancelled (fio's error after a signal).
    int error_number = 0;
};

struct RunResult {
    std::vector<JobResult> jobs;
    std::uint64_t elapsed_ms = 0;
    std::string error;  // the first job error (empty: all passed)
    bool ok() const { return error.empty(); }
};

// Where a run is, for a live progress line: I/Os and bytes done so far by
// all jobs, including a write job's verify read-back.
struct Progress {
    std::chrono::nanoseconds elapsed{0};
    std::uint64_t ios = 0, bytes = 0;
    std::uint64_t read_ios = 0, write_ios = 0, trim_ios = 0;
};

}  // namespace pvsim::frontend::workload
