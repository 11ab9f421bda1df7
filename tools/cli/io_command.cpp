#include "tools/cli/io_command.hpp"

#include <algorithm>
#include <chrono>
#include <ctime>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "common/units.hpp"
#include "common/xen/xenbus.hpp"
#include "tools/cli/command.hpp"
#include "tools/cli/interruption.hpp"
#include "tools/cli/progress_line.hpp"
#include "tools/cli/validators.hpp"
#include "tools/toolstack/domain.hpp"
#include "tools/toolstack/guest_agent.hpp"
#include "tools/toolstack/vbd_status.hpp"
#include "tools/toolstack/virtio_disk.hpp"

namespace pvsim::tools::cli {
nlohmann::json job_json(const IoOptions& options) {
    nlohmann::json job = {{"name", options.name},
                          {"rw", options.rw},
                          {"bs", parse_size(options.bs)},
                          {"iodepth", options.iodepth},
                          {"offset", parse_size(options.offset)},
                          {"rwmixread", options.rwmixread},
                          {"numjobs", options.numjobs},
                          {"verify", options.verify == "crc32c"},
                          // O_SYNC and O_DSYNC alike make a direct write REQ_FUA.
                          {"sync", options.sync != "0" && options.sync != "none"},
                          {"group_reporting", options.group_reporting}};
    if (options.size) {
        job["size"] = parse_size(*options.size);
    }
    // fio's runtime=0 is no limit.
    const auto runtime =
        options.runtime ? parse_duration(*options.runtime) : std::chrono::nanoseconds::zero();
    if (options.time_based && runtime.count() == 0) {
        throw CommandError("--time_based runs for --runtime, and none was given");
    }
    if (options.io_size && !options.time_based) {
        job["io_size"] = parse_size(*options.io_size);
    }
    if (runtime.count() > 0) {
        job["runtime_ns"] = runtime.count();
    }
    if (options.startdelay) {
        job["startdelay_ns"] = parse_duration(*options.startdelay).count();
    }
    if (options.seed) {
        job["seed"] = *options.seed;
    }
    return job;
}

namespace {

void io(Session& session, const IoOptions& options) {
    const IoOutcome outcome = run_io(session, options);
    if (options.json) {
        session.print(io_json(options, outcome).dump(2) + "\n");
    } else {
        session.print(render_io_table(outcome.result, outcome.counts,
                                      outcome.transport == "virtio" ? "virtio-blk" : "blkif"));
    }
    if (!outcome.error.empty()) {
        throw CommandError(options.domain + " " + options.vdev + ": " + outcome.error);
    }
}

}  // namespace

namespace {

// The disk a job runs on: a vbd, or a virtio disk by its vd name.
struct IoDisk {
    std::uint32_t devid = 0;
    xen::DomId backend_domid = 0;  // whose hypercalls count besides the guest's
    std::string transport;         // "xen" | "virtio"
};

IoDisk find_io_disk(Session& session, const toolstack::DomainRecord& domain,
                    const std::string& vdev) {
    if (toolstack::is_virtio_vdev(vdev)) {
        const auto disk = toolstack::find_virtio_disk(session.xenstore(), domain.domid, vdev);
        if (!disk) {
            throw CommandError(domain.name + " has no vdev " + vdev + " (see `pvsim block-list " +
                               domain.name + "`)");
        }
        const auto status = toolstack::read_virtio_disk_status(session.xenstore(), *disk);
        if (status.error) {
            throw CommandError(vdev + " of " + domain.name + ": the device failed: " +
                               *status.error + " (block-detach it, then attach it again)");
        }
        // An external device (qemu-storage-daemon) is no domain: the
        // guest's own counts are all there is.
        return {disk->devid, status.external() ? domain.domid : disk->backend_domid, "virtio"};
    }
    const auto paths = toolstack::require_vbd(session.xenstore(), domain, vdev);
    // A device whose ends have closed (unplugged, or detached under a
    // workload) stays so until the toolstack removes it: no use waiting.
    const auto status = toolstack::read_vbd_status(session.xenstore(), paths);
    for (const auto& end : {status.frontend_state, status.backend_state}) {
        if (end == xen::XenbusState::closing || end == xen::XenbusState::closed) {
            throw CommandError(vdev + " of " + domain.name + " is " + std::string(xen::name(*end)) +
                               " (block-detach it, then attach it again)");
        }
    }
    return {paths.devid, paths.backend_domid, "xen"};
}

}  // namespace

IoOutcome run_io(Session& session, const IoOptions& options) {
    const toolstack::DomainRecord domain =
        toolstack::find_domain(session.control(), options.domain);
    const IoDisk disk = find_io_disk(session, domain, options.vdev);
    toolstack::GuestAgent agent(session.run(), domain.domid);
    (void)agent.request({{"op", "wait-device"},
                         {"transport", disk.transport},
                         {"devid", disk.devid},
                         {"timeout_ms", 10000}});

    // Ctrl-C: the guest cancels the job, and its reply below then carries
    // what the job did so far.
    std::shared_ptr<void> cancel_on_stop;
    if (Interruption* stop = session.interruption()) {
        cancel_on_stop = stop->on_stop([run = session.run(), domid = domain.domid] {
            try {
                (void)toolstack::GuestAgent(run, domid).request({{"op", "cancel-io"}});
            } catch (const std::exception& e) {
                spdlog::warn("cancelling the io of domain {}: {}", domid, e.what());
            }
        });
    }
    nlohmann::json job = job_json(options);
    if (job.contains("startdelay_ns")) {
        // fio counts startdelay from its own start; what this command has
        // spent since its line was read is gone from it.
        const std::chrono::nanoseconds spent = std::chrono::steady_clock::now() - options.given_at;
        job["startdelay_ns"] =
            std::max<std::int64_t>(0, job["startdelay_ns"].get<std::int64_t>() - spent.count());
    }
    const nlohmann::json before = session.control().stats();
    ProgressLine progress(session, options.progress && !options.json);
    double last_seconds = 0, last_ios = 0;
    const nlohmann::json reply = agent.stream(
        {{"op", "io"},
         {"transport", disk.transport},
         {"devid", disk.devid},
         {"job", job},
         {"progress_ms", 500}},
        [&](const nlohmann::json& p) {
            // The IOPS of the last interval: what the run does now.
            const double seconds = p.value("elapsed_ns", 0.0) / 1e9;
            const double ios = p.value("ios", 0.0);
            const double rate =
                seconds > last_seconds ? (ios - last_ios) / (seconds - last_seconds) : 0.0;
            last_seconds = seconds;
            last_ios = ios;
            progress.show(fmt::format("{} {} {}: {:.1f}s elapsed, {} I/Os, {} IOPS now",
                                      domain.name, options.vdev, options.rw, seconds,
                                      static_cast<std::uint64_t>(ios), format_rate(rate)));
        });
    progress.clear();
    const nlohmann::json after = session.control().stats();

    IoOutcome outcome;
    outcome.transport = disk.transport;
    outcome.error = reply.value("ok", false) ? "" : reply.value("error", std::string("failed"));
    if (!reply.contains("result")) {
        throw CommandError(options.domain + " " + options.vdev + ": " + outcome.error);
    }
    outcome.result = reply.at("result");
    outcome.counts =
        IoCounts::measure(outcome.result, reply.value("frontend", nlohmann::json::object()), before,
                          after, domain.domid, disk.backend_domid);
    return outcome;
}

namespace {

// fio 3.33's "job options": each option given, as given (a string), and none
// for a flag (fio writes neither time_based nor group_reporting there).
// pvsim's defaults stand for options not given.
nlohmann::json fio_job_options(const IoOptions& options) {
    nlohmann::json out = {{"name", options.name},
                          {"rw", options.rw},
                          {"bs", options.bs},
                          {"iodepth", std::to_string(options.iodepth)}};
    const auto add = [&out](const char* key, const std::optional<std::string>& value) {
        if (value) {
            out[key] = *value;
        }
    };
    add("size", options.size);
    add("runtime", options.runtime);
    add("startdelay", options.startdelay);
    add("io_size", options.io_size);
    add("ioengine", options.ioengine);
    if (options.offset != "0") {
        out["offset"] = options.offset;
    }
    if (options.rw.find("rw") != std::string::npos) {
        out["rwmixread"] = std::to_string(options.rwmixread);
    }
    if (options.numjobs != 1) {
        out["numjobs"] = std::to_string(options.numjobs);
    }
    if (options.seed) {
        out["randseed"] = std::to_string(*options.seed);
    }
    if (options.verify != "none") {
        out["verify"] = options.verify;
    }
    if (options.sync != "0") {
        out["sync"] = options.sync;
    }
    if (options.direct) {
        out["direct"] = std::to_string(*options.direct);
    }
    return out;
}

}  // namespace

nlohmann::json io_json(const IoOptions& options, const IoOutcome& outcome) {
    nlohmann::json out = outcome.result;
    // fio's top-level time of the report: seconds, milliseconds and ctime(3)
    // without its newline.
    const auto now = std::chrono::system_clock::now();
    const std::time_t seconds = std::chrono::system_clock::to_time_t(now);
    char text[32] = {};
    (void)::ctime_r(&seconds, text);
    std::string when = text;
    if (!when.empty() && when.back() == '\n') {
        when.pop_back();
    }
    out["timestamp"] = static_cast<std::int64_t>(seconds);
    out["timestamp_ms"] =
        std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count();
    out["time"] = when;
    const nlohmann::json job_options = fio_job_options(options);
    for (auto& job : out["jobs"]) {
        job["job options"] = job_options;
    }
    // What is pvsim's own: beside what the guest's result put there (its
    // error text).
    nlohmann::json& own = out["pvsim"];
    if (!own.is_object()) {
        own = nlohmann::json::object();
    }
    own["domain"] = options.domain;
    own["vdev"] = options.vdev;
    own["transport"] = outcome.transport;
    own["counts"] = outcome.counts.to_json();
    if (!outcome.error.empty()) {
        own["error"] = outcome.error;
    }
    // What fio's own options became: the guest's I/O always reaches the
    // disk's driver (no page cache in the guest), which is its engine.
    own["direct"] = 1;
    own["ioengine"] = outcome.transport == "virtio" ? "virtio-blk" : "blkfront";
    if (options.ioengine) {
        own["ioengine_asked"] = *options.ioengine;
    }
    return out;
}

void add_job_options(CLI::App* cmd, const std::shared_ptr<IoOptions>& options) {
    cmd->add_option("--name", options->name, "fio's jobname")->capture_default_str();
    cmd->add_option("--rw,--readwrite", options->rw, "The I/O pattern")
        ->capture_default_str()
        ->check(CLI::IsMember({"read", "write", "randread", "randwrite", "rw", "readwrite",
                               "randrw", "trim", "randtrim", "trimwrite"}));
    cmd->add_option("--bs,--blocksize", options->bs, "Block size of each I/O")
        ->capture_default_str()
        ->check(size_validator());
    cmd->add_option("--iodepth", options->iodepth, "I/Os in flight per job")
        ->capture_default_str()
        ->check(CLI::Range(1, 1024));
    cmd->add_option("--size", options->size,
                    "Bytes of the disk each job covers (default: the disk from --offset, shared "
                    "out among the jobs)")
        ->check(size_validator());
    cmd->add_option("--offset", options->offset, "Where the first job's region starts")
        ->capture_default_str()
        ->check(size_validator());
    cmd->add_option("--runtime", options->runtime,
                    "Stop after this long (seconds, or 500ms, 2m...; 0: no limit); without "
                    "--io_size the job runs for that long")
        ->check(duration_validator());
    cmd->add_option("--startdelay", options->startdelay,
                    "Start the jobs this long after the command started (fio's; seconds, or "
                    "500ms...): jobs that several commands start at once start together")
        ->check(duration_validator());
    cmd->add_flag("--group_reporting,--group-reporting", options->group_reporting,
                  "Report the jobs as one: their I/Os and latencies together (fio's)");
    cmd->add_flag("--time_based,--time-based", options->time_based,
                  "Run for --runtime, looping over the region (--io_size then is no limit)");
    cmd->add_option("--direct", options->direct,
                    "Accepted as fio's: the guest has no page cache, so every I/O reaches the "
                    "disk's driver, as with 1")
        ->check(CLI::IsMember({0, 1}));
    cmd->add_option("--ioengine", options->ioengine,
                    "Accepted as fio's and reported: the guest's engine is the disk's driver "
                    "(blkfront or virtio-blk)");
    cmd->add_option("--io_size,--io-size,--io_limit", options->io_size,
                    "Bytes each job transfers (default --size)")
        ->check(size_validator());
    cmd->add_option("--rwmixread", options->rwmixread, "Percent reads of rw/randrw")
        ->capture_default_str()
        ->check(CLI::Range(0, 100));
    cmd->add_option("--numjobs", options->numjobs,
                    "Jobs at once, each on its own slice of the disk (fio's "
                    "offset_increment=size)")
        ->capture_default_str()
        ->check(CLI::Range(1, 64));
    cmd->add_option("--seed,--randseed", options->seed, "Seed of the offsets and the data");
    cmd->add_option("--verify", options->verify,
                    "crc32c: every written block carries a checked header; reads check it")
        ->capture_default_str()
        ->check(CLI::IsMember({"none", "crc32c"}));
    cmd->add_option("--sync", options->sync,
                    "1, sync or dsync: synchronous writes, which reach the disk as FUA writes "
                    "(a write barrier to a barrier-only blkback, else a write and a flush)")
        ->capture_default_str()
        ->check(CLI::IsMember({"0", "1", "none", "sync", "dsync"}));
}

void add_io_command(CLI::App& app, Selected& selected, const CommandFilter& filter) {
    if (!filter.wants("io")) {
        return;
    }
    auto options = std::make_shared<IoOptions>();
    CLI::App* cmd = app.add_subcommand(
        "io", "Run a workload in the guest on one of its disks (fio's options and meanings)");
    cmd->add_option("NAME", options->domain, "The guest")->required();
    cmd->add_option("VDEV", options->vdev, "Its disk (xvda, or vda for a virtio disk)")
        ->required()
        ->check(vdev_validator());
    add_job_options(cmd, options);
    cmd->add_flag(
        "--json", options->json,
        "fio's JSON (--output-format=json) instead of a table, pvsim's own under \"pvsim\"");
    auto output_format = std::make_shared<std::string>("normal");
    cmd->add_option("--output-format", *output_format, "fio's: json is --json")
        ->check(CLI::IsMember({"normal", "json"}));
    cmd->callback([&selected, options, output_format] {
        if (options->rw == "readwrite") {
            options->rw = "rw";
        }
        options->json = options->json || *output_format == "json";
        options->given_at = std::chrono::steady_clock::now();
        // A job no guest could run is usage, refused before anything
        // starts (as bench refuses it).
        try {
            (void)job_json(*options);
        } catch (const CommandError& e) {
            throw CLI::ValidationError(e.what());
        }
        selected = [options](Session& session) { io(session, *options); };
    });
}

}  // namespace pvsim::tools::cli
