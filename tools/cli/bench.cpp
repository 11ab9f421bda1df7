#include "tools/cli/bench.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <ostream>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "common/os/cpu_list.hpp"
#include "common/os/unique_fd.hpp"
#include "common/units.hpp"
#include "tools/cli/block_attach.hpp"
#include "tools/cli/child_program.hpp"
#include "tools/cli/command.hpp"
#include "tools/cli/fio_baseline.hpp"
#include "tools/cli/interruption.hpp"
#include "tools/cli/local_path.hpp"
#include "tools/cli/qsd_device.hpp"
#include "tools/cli/table.hpp"
#include "tools/cli/target_access.hpp"
#include "tools/cli/temporary_run.hpp"
#include "tools/cli/virtio_attach.hpp"
#include "tools/toolstack/disk_spec.hpp"
#include "tools/toolstack/guests.hpp"
#include "tools/toolstack/vbd_status.hpp"
#include "tools/toolstack/virtio_disk.hpp"

namespace pvsim::tools::cli {
namespace {

// Sums and the first job's percentiles over both directions: a job reads,
// writes, or both (then the reads' latency is shown). A write job's
// read-back (its reads, as fio reports them) is not the job's figure.
struct Figures {
    double iops = 0, bw_bytes = 0;
    std::uint64_t p50 = 0, p99 = 0, p999 = 0;
};

Figures figures_of(const nlohmann::json& result) {
    Figures f;
    bool latency = false;
    for (const auto& job : result.value("jobs", nlohmann::json::array())) {
        const bool read_back = job.value("pvsim", nlohmann::json::object())
                                   .value("verify", nlohmann::json::object())
                                   .value("read_back", false);
        for (const char* direction : {"read", "write"}) {
            const auto& stats = job.value(direction, nlohmann::json::object());
            if (stats.value("total_ios", std::uint64_t{0}) == 0 ||
                (read_back && std::string_view(direction) == "read")) {
                continue;
            }
            f.iops += stats.value("iops", 0.0);
            f.bw_bytes += stats.value("bw_bytes", 0.0);
            if (!latency) {
                const auto percentiles = stats.value("clat_ns", nlohmann::json::object())
                                             .value("percentile", nlohmann::json::object());
                f.p50 = percentiles.value("50.000000", std::uint64_t{0});
                f.p99 = percentiles.value("99.000000", std::uint64_t{0});
                f.p999 = percentiles.value("99.900000", std::uint64_t{0});
                latency = true;
            }
        }
    }
    return f;
}

// An image every byte of which is written, so that reads reach the store.
void make_written_image(const std::filesystem::path& path, std::uint64_t bytes) {
    os::UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
    if (!fd) {
        os::throw_system_error("create " + path.string());
    }
    const std::vector<char> chunk(1 << 20, '\x5a');
    for (std::uint64_t done = 0; done < bytes;) {
        const std::size_t length =
            static_cast<std::size_t>(std::min<std::uint64_t>(chunk.size(), bytes - done));
        const ssize_t written = ::pwrite(fd.get(), chunk.data(), length, static_cast<off_t>(done));
        if (written <= 0) {
            os::throw_system_error("write " + path.string());
        }
        done += static_cast<std::uint64_t>(written);
    }
}

// The image the paths run on, and whether the bench lays it out.
struct BenchImage {
    std::filesystem::path path;
    std::uint64_t bytes = 0;
    bool create = false;
};

// The bytes a job needs of its image: --offset, then --size per job (fio's
// offset_increment). Throws CommandError when --size is not given.
std::uint64_t job_span(const IoOptions& job) {
    if (!job.size) {
        throw CommandError(
            "--filename names a file that does not exist: give --size to have "
            "it laid out, as fio does");
    }
    return parse_size(job.offset) + parse_size(*job.size) * job.numjobs;
}

// --filename as fio takes it: an existing file must hold the job's region;
// a missing one is laid out later (written, not sparse).
BenchImage plan_user_image(const std::string& filename, const IoOptions& job) {
    BenchImage image{std::filesystem::absolute(filename), 0, false};
    std::error_code error;
    if (!std::filesystem::exists(image.path, error)) {
        image.bytes = job_span(job);
        image.create = true;
        return image;
    }
    // A file or block device the paths may write (block-attach's check).
    checked_target("--filename", filename, false, "");
    os::UniqueFd fd(::open(image.path.c_str(), O_RDONLY | O_CLOEXEC));
    const off_t end = fd ? ::lseek(fd.get(), 0, SEEK_END) : -1;
    if (end < 0) {
        throw CommandError("--filename " + filename + ": " + std::strerror(errno));
    }
    image.bytes = static_cast<std::uint64_t>(end);
    if (job.size && image.bytes < job_span(job)) {
        throw CommandError(fmt::format(
            "--filename {} is {} bytes, shorter than the job's {} (--offset {} + --size {} x "
            "--numjobs {})",
            filename, image.bytes, job_span(job), job.offset, *job.size, job.numjobs));
    }
    return image;
}

// Each job's region on `image`: --size, else what pvsim's job takes by
// default (frontend/workload job_size: the image from --offset, shared
// among the jobs, whole blocks).
std::uint64_t job_bytes(const IoOptions& job, const BenchImage& image) {
    if (job.size) {
        return parse_size(*job.size);
    }
    const std::uint64_t offset = parse_size(job.offset);
    const std::uint64_t bs = parse_size(job.bs);
    const std::uint64_t share = image.bytes > offset ? (image.bytes - offset) / job.numjobs : 0;
    return share / bs * bs;
}

// fio's row: its best engine's figures, every engine's IOPS in the log.
BenchRow run_fio_row(const std::filesystem::path& fio, const IoOptions& job,
                     const BenchImage& image, const std::filesystem::path& scratch,
                     const Interruption& stop, const std::optional<os::CpuList>& cpus) {
    BenchPath path;
    path.name = "fio";
    path.fio = true;
    const std::vector<FioRun> runs =
        run_fio_engines(fio, job, image.path.string(), job_bytes(job, image), scratch, &stop, cpus);
    const FioRun* best = best_fio_run(runs);
    if (best == nullptr) {
        return {path, {}, {}, {}, runs.empty() ? "interrupted" : runs.front().error};
    }
    std::map<std::string, std::string> features = {{"engine", best->engine}};
    for (const FioRun& run : runs) {
        features["iops_" + run.engine] =
            run.error.empty() ? fmt::format("{:.0f}", run.iops) : "failed: " + run.error;
    }
    return {path, best->result, {}, features, {}};
}

BenchRow run_xen_path(Session& session, const BenchPath& path, const std::string& image,
                      const IoOptions& job) {
    const toolstack::DiskSpec disk =
        toolstack::parse_disk_spec("target=" + image + ",vdev=" + job.vdev +
                                   (path.features.empty() ? "" : "," + path.features));
    const toolstack::VbdPaths vbd = block_attach(session, job.domain, disk);
    BenchRow row{path, {}, {}, {}, {}};
    row.features = toolstack::read_vbd_status(session.xenstore(), vbd).features;
    IoOutcome outcome;
    try {
        outcome = run_io(session, job);
    } catch (...) {
        toolstack::detach_vbd(session.xenstore(), vbd, {std::chrono::seconds(10), true});
        throw;
    }
    toolstack::detach_vbd(session.xenstore(), vbd);
    row.error = outcome.error;
    row.result = outcome.result;
    row.counts = outcome.counts;
    return row;
}

// A virtio-blk disk over pvsim's vhost-user-blk device, or over a
// qemu-storage-daemon started for this path alone (`index` names its
// socket and log).
BenchRow run_virtio_path(Session& session, const BenchPath& path, const std::string& image,
                         const IoOptions& job, std::size_t index) {
    std::optional<QsdDevice> qsd;
    std::string spec = "vdev=" + job.vdev + ",specification=virtio";
    if (path.virtio == VirtioDevice::qsd) {
        const std::string stem = "qsd-" + std::to_string(index);
        qsd.emplace(image, session.run().path() / (stem + ".sock"),
                    session.run().path() / (stem + ".log"), session.up_options().dom0_cpus);
        spec += ",vhost-user=" + qsd->socket().string();
    } else {
        spec += ",target=" + image;
    }
    const toolstack::VirtioDiskPaths disk =
        virtio_block_attach(session, job.domain, toolstack::parse_disk_spec(spec));
    BenchRow row{path, {}, {}, {}, {}};
    const auto status = toolstack::read_virtio_disk_status(session.xenstore(), disk);
    row.features = {{"transport", status.transport()}, {"queues", status.num_queues.value_or("1")}};
    IoOutcome outcome;
    try {
        outcome = run_io(session, job);
    } catch (...) {
        (void)toolstack::detach_virtio_disk(session.xenstore(), session.run(), disk, true,
                                            std::chrono::seconds(10));
        throw;
    }
    (void)toolstack::detach_virtio_disk(session.xenstore(), session.run(), disk, false,
                                        std::chrono::seconds(10));
    row.error = outcome.error;
    row.result = outcome.result;
    row.counts = outcome.counts;
    return row;
}

// Where each side ran (`--guest-cpus`, `--dom0-cpus`) as cpulist strings,
// null for a side left on every CPU, so figures from one run can be told
// from another's placement.
nlohmann::json placement_json(const std::optional<os::CpuList>& guest,
                              const std::optional<os::CpuList>& dom0) {
    const auto cpulist = [](const std::optional<os::CpuList>& cpus) {
        return cpus ? nlohmann::json(cpus->to_string()) : nlohmann::json(nullptr);
    };
    return {{"guest", cpulist(guest)}, {"dom0", cpulist(dom0)}};
}

}  // namespace

BenchBaselines bench_baselines(const std::vector<BenchRow>& rows) {
    BenchBaselines baselines;
    for (const BenchRow& row : rows) {
        if (!row.error.empty()) {
            continue;
        }
        if (row.path.local) {
            baselines.local = &row;
        } else if (row.path.fio) {
            baselines.fio = &row;
        }
    }
    return baselines;
}

nlohmann::json bench_row_json(const BenchRow& row, const BenchBaselines& baselines) {
    const Figures f = figures_of(row.result);
    nlohmann::json out = {
        {"path", row.path.name},
        {"diskspec_features", row.path.features},
        // fio's names with fio's types (an integer
        // bw_bytes, percentiles keyed as fio keys them).
        {"iops", f.iops},
        {"bw_bytes", static_cast<std::uint64_t>(f.bw_bytes)},
        {"clat_ns",
         {{"percentile", {{"50.000000", f.p50}, {"99.000000", f.p99}, {"99.900000", f.p999}}}}},
        {"counts", row.counts.to_json()},
        {"features", row.features}};
    if (!row.error.empty()) {
        out["error"] = row.error;
    }
    for (const auto& [key, base] :
         {std::pair{"ratio_to_local", baselines.local}, std::pair{"ratio_to_fio", baselines.fio}}) {
        if (base != nullptr && base != &row) {
            const double base_iops = figures_of(base->result).iops;
            out[key] = base_iops > 0 ? f.iops / base_iops : 0.0;
        }
    }
    return out;
}

std::string render_bench_table(const std::vector<BenchRow>& rows, const std::string& baseline) {
    const BenchBaselines baselines = bench_baselines(rows);
    const BenchRow* base = baseline == "fio" ? baselines.fio : baselines.local;
    Table table({"Path", ">IOPS", ">MiB/s", ">p50", ">p99", ">p99.9", ">vs " + baseline, ">req/IO",
                 ">maps", ">unmaps", ">copies", ">hcalls", ">ntf>be", ">ntf>fe", ">data cp"});
    std::string failures, verify;
    for (const BenchRow& row : rows) {
        if (!row.error.empty()) {
            failures += row.path.name + " failed: " + row.error + "\n";
            continue;
        }
        const auto& jobs = row.result.value("jobs", nlohmann::json::array());
        for (const auto& job : jobs) {
            // fio's row does not verify: pvsim's paths say what they checked.
            if (job.contains("pvsim") &&
                job["pvsim"].value("verify", nlohmann::json::object()).value("enabled", false)) {
                verify += verify_line(jobs.size() > 1 ? fmt::format("{}.{}", row.path.name,
                                                                    job["pvsim"].value("jobnum", 0))
                                                      : row.path.name,
                                      job);
            }
        }
        const Figures f = figures_of(row.result);
        const IoCounts& c = row.counts;
        const auto per = [&](std::uint64_t count) {
            return row.path.has_requests() ? fmt::format("{:.2f}", c.per_request(count))
                                           : std::string("-");
        };
        std::string ratio = "-";
        if (base != nullptr && base != &row) {
            const double base_iops = figures_of(base->result).iops;
            ratio = base_iops > 0 ? fmt::format("{:.2f}", f.iops / base_iops) : "-";
        }
        const std::string name =
            row.path.fio ? "fio (" + row.features.at("engine") + ")" : row.path.name;
        // fio's unit: MiB/s (2^20 bytes).
        table.add({name, format_rate(f.iops), fmt::format("{:.1f}", f.bw_bytes / (1 << 20)),
                   format_latency(static_cast<double>(f.p50)),
                   format_latency(static_cast<double>(f.p99)),
                   format_latency(static_cast<double>(f.p999)), ratio,
                   !row.path.has_requests() || c.ios == 0
                       ? std::string("-")
                       : fmt::format("{:.2f}",
                                     static_cast<double>(c.requests) / static_cast<double>(c.ios)),
                   per(c.grant_maps), per(c.grant_unmaps), per(c.grant_copies), per(c.hypercalls),
                   per(c.notifications_to_backend), per(c.notifications_to_frontend),
                   per(c.data_copies)});
    }
    return table.render() + failures + verify +
           "per request (blkif, or virtio-blk on the virtio paths): grant maps, unmaps, copies "
           "(GNTTABOP slots), hypercalls, notifications to the backend and to the frontend, data "
           "copies (segments through persistent pages)\n";
}

int run_bench(const BenchOptions& options, const toolstack::UpOptions& up, std::ostream& out,
              std::ostream& err) {
    // Everything is checked before anything starts.
    std::vector<BenchPath> paths;
    std::optional<BenchImage> user_image;
    try {
        paths = parse_bench_paths(options.paths);
        if (options.filename) {
            user_image = plan_user_image(*options.filename, options.job);
        }
        (void)job_json(options.job);  // --time_based without --runtime, before anything starts
        if (options.job.startdelay) {
            throw CommandError(
                "--startdelay lines up jobs that several commands start; bench runs one path "
                "at a time");
        }
    } catch (const ParseError& e) {
        err << "pvsim " << e.what() << "\n";
        return 2;
    } catch (const CommandError& e) {
        err << "pvsim bench: " << e.what() << "\n";
        return 2;
    }
    const std::optional<std::filesystem::path> fio = find_program("fio");
    if (options.baseline == "fio" && !fio) {
        err << "pvsim bench: fio is not installed (the package fio); or --baseline local\n";
        return 2;
    }
    const std::optional<os::CpuList> guest_cpus =
        options.guest_cpus ? std::optional(os::CpuList::parse(*options.guest_cpus)) : std::nullopt;
    // Ctrl-C or SIGTERM: the path running is cancelled, the rest are not
    // run, the rows so far are printed and the run is torn down.
    Interruption stop;
    TemporaryRun temporary("bench");
    const RunDir& run = temporary.run();
    Session session(run, out, up);
    session.set_interruption(&stop);
    std::vector<BenchRow> rows;
    bool passed = false;
    try {
        toolstack::start_run(run, session.programs(), up);
        if (guest_cpus || up.dom0_cpus) {
            const auto where = [](const std::optional<os::CpuList>& cpus) {
                return cpus ? "CPUs " + cpus->to_string() : std::string("any CPU");
            };
            session.print(
                fmt::format("guest side (the guest, fio, local) on {}; dom0 (backend, "
                            "xenstored, qemu-storage-daemon) on {}\n",
                            where(guest_cpus), where(up.dom0_cpus)));
        }
        stop.throw_if_requested();
        BenchImage image;
        if (user_image) {
            image = *user_image;
            if (image.create) {
                session.print(fmt::format("laying out {} ({})\n", image.path.string(),
                                          format_size(image.bytes)));
                make_written_image(image.path, image.bytes);
            }
        } else {
            image = {run.path() / "bench.img", parse_size(options.image_size), true};
            make_written_image(image.path, image.bytes);
        }
        if (fio) {
            session.print(fmt::format("fio: {} {} iodepth {}, engines {}\n", options.job.rw,
                                      format_size(parse_size(options.job.bs)), options.job.iodepth,
                                      fmt::join(kFioEngines, ", ")));
            rows.push_back(run_fio_row(*fio, options.job, image, run.path(), stop, guest_cpus));
        }
        stop.throw_if_requested();
        toolstack::GuestSpec guest{"bench", 256ull << 20, up.log_level};
        guest.cpus = guest_cpus;
        toolstack::create_guest(run, session.programs(), session.control(), session.xenstore(),
                                guest);
        IoOptions job = options.job;
        job.domain = "bench";
        job.json = false;
        job.progress = false;
        for (std::size_t i = 0; i < paths.size(); ++i) {
            stop.throw_if_requested();
            const BenchPath& path = paths[i];
            // Each path a disk of its own (xvda, xvdb, ...), as a guest
            // would see several disks attached one after another.
            job.vdev = std::string(path.virtio == VirtioDevice::none ? "xvd" : "vd") +
                       std::string(1, static_cast<char>('a' + i));
            session.print(fmt::format("{}: {} {} iodepth {}{}\n", path.name, job.rw,
                                      format_size(parse_size(job.bs)), job.iodepth,
                                      path.features.empty() ? "" : " (" + path.features + ")"));
            if (path.local) {
                // This process plays the guest: its job's threads start
                // from this thread's mask, and io_uring's workers from
                // theirs.
                std::optional<os::ThreadAffinityScope> pinned;
                if (guest_cpus) {
                    pinned.emplace(*guest_cpus);
                }
                const IoOutcome outcome = run_local_job(job, image.path, &stop);
                rows.push_back({path, outcome.result, outcome.counts, {}, outcome.error});
            } else {
                try {
                    rows.push_back(
                        path.virtio == VirtioDevice::none
                            ? run_xen_path(session, path, image.path.string(), job)
                            : run_virtio_path(session, path, image.path.string(), job, i));
                } catch (const CommandError& e) {
                    // The path could not even connect: the others still run.
                    rows.push_back({path, {}, {}, {}, e.what()});
                }
            }
            if (stop.requested() && rows.back().error.ends_with("cancelled")) {
                // Cut short by the signal, as fio's row is: what it did so
                // far is its row.
                rows.back().error.clear();
            }
            if (!rows.back().error.empty()) {
                session.print(path.name + " failed: " + rows.back().error + "\n");
            }
        }
        stop.throw_if_requested();
        passed = true;
    } catch (const std::exception& e) {
        if (!stop.requested()) {
            err << "pvsim bench: " << e.what() << "\n";
        }
    }
    session.disconnect();
    (void)toolstack::stop_run(run);
    if (stop.requested()) {
        // fio on SIGINT: what ran so far. The run is gone, nothing is kept.
        if (!rows.empty()) {
            session.print(render_bench_table(rows, options.baseline));
        }
        err << "pvsim bench: interrupted by " << stop.signal_name() << ": " << rows.size() << " of "
            << paths.size() + (fio ? 1 : 0) << " rows ran; the run is torn down\n";
        return stop.exit_status();
    }
    if (!passed) {
        temporary.keep();
        err << "logs kept in " << run.path().string() << "\n";
        return 1;
    }
    session.print(render_bench_table(rows, options.baseline));
    if (options.json_file) {
        const BenchBaselines baselines = bench_baselines(rows);
        nlohmann::json json_rows = nlohmann::json::array();
        for (const BenchRow& row : rows) {
            json_rows.push_back(bench_row_json(row, baselines));
        }
        const nlohmann::json document = {{"job", job_json(options.job)},
                                         {"image", options.filename.value_or("")},
                                         {"baseline", options.baseline},
                                         {"cpus", placement_json(guest_cpus, up.dom0_cpus)},
                                         {"paths", json_rows}};
        std::ofstream file(*options.json_file);
        file << document.dump(2) << "\n";
        if (!file) {
            err << "pvsim bench: cannot write " << *options.json_file << "\n";
            return 1;
        }
    }
    const bool all_ran = std::all_of(rows.begin(), rows.end(),
                                     [](const BenchRow& row) { return row.error.empty(); });
    return all_ran ? 0 : 1;
}

}  // namespace pvsim::tools::cli
