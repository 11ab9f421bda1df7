#include "tools/cli/bench.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <ostream>

#include <fmt/format.h>

#include "common/os/unique_fd.hpp"
#include "common/units.hpp"
#include "tools/cli/block_attach.hpp"
#include "tools/cli/command.hpp"
#include "tools/cli/local_path.hpp"
#include "tools/cli/qsd_device.hpp"
#include "tools/cli/table.hpp"
#include "tools/cli/temporary_run.hpp"
#include "tools/cli/virtio_attach.hpp"
#include "tools/toolstack/disk_spec.hpp"
#include "tools/toolstack/guests.hpp"
#include "tools/toolstack/vbd_status.hpp"
#include "tools/toolstack/virtio_disk.hpp"

namespace pvsim::tools::cli {
namespace {

// Sums and the first job's percentiles over both directions: a job reads,
// writes, or both (then the reads' latency is shown).
struct Figures {
    double iops = 0, bw_bytes = 0;
    double p50 = 0, p99 = 0, p999 = 0;
};

Figures figures_of(const nlohmann::json& result) {
    Figures f;
    bool latency = false;
    for (const auto& job : result.value("jobs", nlohmann::json::array())) {
        for (const char* direction : {"read", "write"}) {
            const auto& stats = job.value(direction, nlohmann::json::object());
            if (stats.value("total_ios", std::uint64_t{0}) == 0) {
                continue;
            }
            f.iops += stats.value("iops", 0.0);
            f.bw_bytes += stats.value("bw_bytes", 0.0);
            if (!latency) {
                const auto percentiles = stats.value("clat_ns", nlohmann::json::object())
                                             .value("percentile", nlohmann::json::object());
                f.p50 = percentiles.value("50.000000", 0.0);
                f.p99 = percentiles.value("99.000000", 0.0);
                f.p999 = percentiles.value("99.900000", 0.0);
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
                    session.run().path() / (stem + ".log"));
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

}  // namespace

nlohmann::json bench_row_json(const BenchRow& row, const BenchRow* local) {
    const Figures f = figures_of(row.result);
    nlohmann::json out = {{"path", row.path.name},
                          {"diskspec_features", row.path.features},
                          {"iops", f.iops},
                          {"bw_bytes", f.bw_bytes},
                          {"clat_ns", {{"p50", f.p50}, {"p99", f.p99}, {"p99.9", f.p999}}},
                          {"counts", row.counts.to_json()},
                          {"features", row.features}};
    if (!row.error.empty()) {
        out["error"] = row.error;
    }
    if (local != nullptr && local != &row) {
        const Figures base = figures_of(local->result);
        out["ratio_to_local"] = base.iops > 0 ? f.iops / base.iops : 0.0;
    }
    return out;
}

std::string render_bench_table(const std::vector<BenchRow>& rows) {
    const BenchRow* local = nullptr;
    for (const BenchRow& row : rows) {
        if (row.path.local && row.error.empty()) {
            local = &row;
        }
    }
    Table table({"Path", ">IOPS", ">MB/s", ">p50", ">p99", ">p99.9", ">vs local", ">req/IO",
                 ">maps", ">unmaps", ">copies", ">hcalls", ">ntf>be", ">ntf>fe", ">data cp"});
    std::string failures;
    for (const BenchRow& row : rows) {
        if (!row.error.empty()) {
            failures += row.path.name + " failed: " + row.error + "\n";
            continue;
        }
        const Figures f = figures_of(row.result);
        const IoCounts& c = row.counts;
        const auto per = [&](std::uint64_t count) {
            return row.path.local ? std::string("-") : fmt::format("{:.2f}", c.per_request(count));
        };
        std::string ratio = "-";
        if (local != nullptr && local != &row) {
            const double base = figures_of(local->result).iops;
            ratio = base > 0 ? fmt::format("{:.2f}", f.iops / base) : "-";
        }
        table.add({row.path.name, format_rate(f.iops), fmt::format("{:.1f}", f.bw_bytes / 1e6),
                   format_latency(f.p50), format_latency(f.p99), format_latency(f.p999), ratio,
                   row.path.local || c.ios == 0
                       ? std::string("-")
                       : fmt::format("{:.2f}",
                                     static_cast<double>(c.requests) / static_cast<double>(c.ios)),
                   per(c.grant_maps), per(c.grant_unmaps), per(c.grant_copies), per(c.hypercalls),
                   per(c.notifications_to_backend), per(c.notifications_to_frontend),
                   per(c.data_copies)});
    }
    return table.render() + failures +
           "per request (blkif, or virtio-blk on the virtio paths): grant maps, unmaps, copies "
           "(hypercall slots), hypercalls, notifications to the backend and to the frontend, data "
           "copies (segments through persistent pages)\n";
}

int run_bench(const BenchOptions& options, const toolstack::UpOptions& up, std::ostream& out,
              std::ostream& err) {
    std::vector<BenchPath> paths;
    try {
        paths = parse_bench_paths(options.paths);
    } catch (const ParseError& e) {
        err << "pvsim " << e.what() << "\n";
        return 2;
    }
    TemporaryRun temporary("bench");
    const RunDir& run = temporary.run();
    Session session(run, out, up);
    std::vector<BenchRow> rows;
    bool passed = false;
    try {
        toolstack::start_run(run, session.programs(), up);
        std::string image;
        if (options.filename) {
            image = std::filesystem::absolute(*options.filename).string();
        } else {
            image = (run.path() / "bench.img").string();
            make_written_image(image, parse_size(options.image_size));
        }
        toolstack::GuestSpec guest{"bench", 256ull << 20, up.log_level};
        toolstack::create_guest(run, session.programs(), session.control(), session.xenstore(),
                                guest);
        IoOptions job = options.job;
        job.domain = "bench";
        job.json = false;
        job.progress = false;
        for (std::size_t i = 0; i < paths.size(); ++i) {
            const BenchPath& path = paths[i];
            // Each path a disk of its own (xvda, xvdb, ...), as a guest
            // would see several disks attached one after another.
            job.vdev = std::string(path.virtio == VirtioDevice::none ? "xvd" : "vd") +
                       std::string(1, static_cast<char>('a' + i));
            session.print(fmt::format("{}: {} {} iodepth {}{}\n", path.name, job.rw, job.bs,
                                      job.iodepth,
                                      path.features.empty() ? "" : " (" + path.features + ")"));
            if (path.local) {
                const IoOutcome outcome = run_local_job(job, image);
                rows.push_back({path, outcome.result, outcome.counts, {}, outcome.error});
            } else {
                try {
                    rows.push_back(path.virtio == VirtioDevice::none
                                       ? run_xen_path(session, path, image, job)
                                       : run_virtio_path(session, path, image, job, i));
                } catch (const CommandError& e) {
                    // The path could not even connect: the others still run.
                    rows.push_back({path, {}, {}, {}, e.what()});
                }
            }
            if (!rows.back().error.empty()) {
                session.print(path.name + " failed: " + rows.back().error + "\n");
            }
        }
        passed = true;
    } catch (const std::exception& e) {
        err << "pvsim bench: " << e.what() << "\n";
    }
    session.disconnect();
    (void)toolstack::stop_run(run);
    if (!passed) {
        temporary.keep();
        err << "logs kept in " << run.path().string() << "\n";
        return 1;
    }
    session.print(render_bench_table(rows));
    if (options.json_file) {
        const BenchRow* local = nullptr;
        for (const BenchRow& row : rows) {
            if (row.path.local && row.error.empty()) {
                local = &row;
            }
        }
        nlohmann::json json_rows = nlohmann::json::array();
        for (const BenchRow& row : rows) {
            json_rows.push_back(bench_row_json(row, local));
        }
        const nlohmann::json document = {{"job", job_json(options.job)},
                                         {"image", options.filename.value_or("")},
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
