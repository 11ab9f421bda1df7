#include "tools/cli/demo.hpp"

#include <ostream>

#include <fmt/format.h>

#include "common/units.hpp"
#include "tools/cli/block_attach.hpp"
#include "tools/cli/interruption.hpp"
#include "tools/cli/io_command.hpp"
#include "tools/cli/state_monitor.hpp"
#include "tools/cli/temporary_run.hpp"
#include "tools/toolstack/guests.hpp"
#include "tools/toolstack/image.hpp"
#include "tools/toolstack/run_inventory.hpp"
#include "tools/toolstack/vbd.hpp"
#include "tools/toolstack/vbd_status.hpp"

namespace pvsim::tools::cli {
namespace {

std::uint64_t total(const nlohmann::json& result, const char* direction) {
    std::uint64_t ios = 0;
    for (const auto& job : result.at("jobs")) {
        ios += job.at(direction).value("total_ios", std::uint64_t{0});
    }
    return ios;
}

std::uint64_t verified(const nlohmann::json& result) {
    std::uint64_t blocks = 0;
    for (const auto& job : result.at("jobs")) {
        blocks += job.value("pvsim", nlohmann::json::object())
                      .value("verify", nlohmann::json::object())
                      .value("blocks_checked", 0ull);
    }
    return blocks;
}

}  // namespace

int run_demo(const DemoOptions& options, const toolstack::UpOptions& up, std::ostream& out,
             std::ostream& err) {
    // Ctrl-C or SIGTERM: the step running is cut short (a workload
    // cancelled with its results so far), then the run is torn down.
    Interruption stop;
    TemporaryRun temporary("demo");
    const RunDir& run = temporary.run();
    Session session(run, out, up);
    session.set_interruption(&stop);
    auto step = [&](const std::string& text) {
        stop.throw_if_requested();
        session.print("\n== " + text + "\n");
    };
    bool passed = false;
    std::string summary;
    try {
        step("starting the hypervisor, xenstored and dom0 in " + run.path().string());
        toolstack::start_run(run, session.programs(), up);
        StateMonitor monitor(session);

        step("creating guest \"demo\" (64 MiB)");
        toolstack::GuestSpec guest{"demo", 64ull << 20, up.log_level};
        const auto domain = toolstack::create_guest(run, session.programs(), session.control(),
                                                    session.xenstore(), guest);
        session.print(fmt::format("domain {} is running pvsim-guest\n", domain.domid));

        const auto image = run.path() / "demo.img";
        toolstack::make_image(image, options.image_bytes);
        step("attaching a sparse " + format_size(options.image_bytes) +
             " image as xvda: watch both ends' xenbus states");
        toolstack::DiskSpec disk;
        disk.target = image.string();
        disk.vdev = "xvda";
        block_attach(session, "demo", disk);
        monitor.settle();

        IoOptions job;
        job.domain = "demo";
        job.vdev = "xvda";
        job.bs = "4k";
        job.iodepth = 32;
        job.verify = "crc32c";
        job.seed = 2026;

        const std::uint64_t written = options.image_bytes / 4;
        step("random writes, 4 KiB at queue depth 32, " + format_size(written) +
             " over the whole disk, verified");
        job.name = "randwrite";
        job.rw = "randwrite";
        job.io_size = std::to_string(written);
        const IoOutcome write = run_io(session, job);
        session.print(render_io_table(write.result, write.counts));
        if (!write.error.empty()) {
            throw std::runtime_error("the write workload failed: " + write.error);
        }

        step("random reads of the whole disk, checking every block written above");
        job.name = "randread";
        job.rw = "randread";
        job.io_size.reset();
        const IoOutcome read = run_io(session, job);
        session.print(render_io_table(read.result, read.counts));
        if (!read.error.empty()) {
            throw std::runtime_error("the read workload failed: " + read.error);
        }

        step("detaching xvda and destroying the guest");
        const auto paths = toolstack::find_vbd(session.xenstore(), domain.domid, "xvda");
        toolstack::detach_vbd(session.xenstore(), *paths);
        toolstack::destroy_guest(run, session.control(), session.xenstore(), domain);
        summary = fmt::format(
            "{} blocks written and {} read back in the write job's check; {} blocks read, {} "
            "of them checked against what was written; {:.3f} notifications per request to "
            "the backend at queue depth 32",
            total(write.result, "write"), verified(write.result), total(read.result, "read"),
            verified(read.result),
            read.counts.requests == 0 ? 0.0
                                      : static_cast<double>(read.counts.notifications_to_backend) /
                                            static_cast<double>(read.counts.requests));
        passed = true;
    } catch (const std::exception& e) {
        err << "pvsim demo: " << e.what() << "\n";
    }

    session.print("\n== tearing the run down\n");
    session.disconnect();
    const toolstack::RunInventory forced = toolstack::stop_run(run);
    const toolstack::RunInventory left = toolstack::take_inventory(run);
    const bool clean = forced.processes.empty() && forced.shared_memory.empty() && left.empty();
    session.print(std::string("left behind: ") + (clean ? "nothing" : forced.describe()) + "\n");
    if (stop.requested()) {
        err << "pvsim demo: interrupted by " << stop.signal_name()
            << (clean ? "; the run is torn down\n" : "; teardown was not clean\n");
        return stop.exit_status();
    }
    if (passed && clean) {
        session.print("\ndemo passed: " + summary + "\n");
        return 0;
    }
    err << "demo failed" << (clean ? "" : ": teardown was not clean") << "; logs kept in "
        << run.path().string() << "\n";
    temporary.keep();
    return 1;
}

}  // namespace pvsim::tools::cli
