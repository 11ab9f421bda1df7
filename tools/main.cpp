// pvsim: the command line (DESIGN.md §7), xl's counterpart for a simulated
// Xen host: the run's daemons, guests, their disks, workloads in them,
// scenario scripts and the demo; and pvsim's vhost-user-blk device served on
// its own (export) for QEMU or any vhost-user front-end. Results go to
// stdout, errors to stderr as "pvsim <command>: <what went wrong>"
// (cli/usage_error.hpp); usage errors exit 2, failures 1, a command stopped
// by SIGINT or SIGTERM 128 + the signal.
#include <signal.h>

#include <filesystem>
#include <iostream>
#include <optional>

#include <CLI/CLI.hpp>

#include "common/log.hpp"
#include "common/os/cpu_list.hpp"
#include "common/os/environment.hpp"
#include "common/run_dir.hpp"
#include "common/units.hpp"
#include "tools/cli/bench.hpp"
#include "tools/cli/command.hpp"
#include "tools/cli/demo.hpp"
#include "tools/cli/export_command.hpp"
#include "tools/cli/interruption.hpp"
#include "tools/cli/script.hpp"
#include "tools/cli/usage_error.hpp"
#include "tools/cli/validators.hpp"

namespace {

using namespace pvsim;
using namespace pvsim::tools;

int run(int argc, char** argv) {
    CLI::App app{"pvsim: a simulated Xen host with its split block driver, and virtio beside it"};
    app.require_subcommand(1, 1);
    app.set_version_flag("--version", std::string("pvsim ") + PVSIM_VERSION);
    std::optional<std::string> run_dir;
    toolstack::UpOptions up;
    app.add_option("--run-dir", run_dir,
                   "The run's directory (else $PVSIM_RUN_DIR, $XDG_RUNTIME_DIR/pvsim, "
                   "/tmp/pvsim-$UID)");
    app.add_option("--log-level", up.log_level,
                   "Log level of the daemons and guests started (trace ... off; else $PVSIM_LOG)")
        ->check(CLI::Validator(
            [](std::string& level) -> std::string {
                // Checked here, before anything starts, as the daemons will.
                try {
                    (void)parse_log_level(level, "--log-level");
                    return {};
                } catch (const std::exception& e) {
                    return e.what();
                }
            },
            "LEVEL"));
    app.add_option("--io-engine", up.io_engine, "dom0's I/O engine: auto, io_uring, threads, sync")
        ->capture_default_str()
        ->check(CLI::IsMember({"auto", "io_uring", "threads", "sync"}));
    std::optional<std::string> dom0_cpus;
    app.add_option("--dom0-cpus", dom0_cpus,
                   "dom0's CPUs (xl.cfg cpus= syntax: 0-1, 0,^1, all): its backend, xenstored and "
                   "monitor run only there, as with Xen's dom0_max_vcpus and dom0_vcpus_pin "
                   "(default: anywhere)")
        ->check(cli::cpu_list_validator());

    cli::Selected selected;
    cli::add_run_commands(app, selected);
    cli::add_domain_commands(app, selected);
    cli::add_block_commands(app, selected);
    cli::add_io_command(app, selected);

    std::string script_file;
    CLI::App* script = app.add_subcommand(
        "script", "Run a scenario: one pvsim command per line, in a fresh run unless --run-dir");
    script->add_option("FILE", script_file)->required()->check(CLI::ExistingFile);
    CLI::App* demo = app.add_subcommand("demo", "The whole tour, on its own fresh run");
    std::string demo_size = "256M";
    demo->add_option("--size", demo_size,
                     "The image's size (a multiple of 16 KiB, at least 1 MiB); the write job "
                     "covers a quarter of it")
        ->capture_default_str()
        ->check(CLI::Validator(
            [](std::string& text) -> std::string {
                try {
                    const std::uint64_t bytes = parse_size(text);
                    if (bytes < (1u << 20) || bytes % (16u << 10) != 0) {
                        return "a multiple of 16 KiB, at least 1 MiB";
                    }
                    return {};
                } catch (const ParseError& e) {
                    return e.what();
                }
            },
            "SIZE"));

    auto bench_options = std::make_shared<cli::BenchOptions>();
    CLI::App* bench = app.add_subcommand(
        "bench", "One job over several I/O paths side by side, on its own fresh run");
    bench
        ->add_option("--paths", bench_options->paths, "Comma-separated: " + cli::bench_path_names())
        ->required()
        ->check(CLI::Validator(
            [](std::string& list) -> std::string {
                try {
                    (void)cli::parse_bench_paths(list);
                    return {};
                } catch (const std::exception& e) {
                    return e.what();
                }
            },
            "PATHS"));
    cli::add_job_options(bench,
                         std::shared_ptr<cli::IoOptions>(bench_options, &bench_options->job));
    bench->add_option("--filename", bench_options->filename,
                      "The image every path runs on (default: a written one of --image-size); "
                      "laid out, written, from --offset and --size when missing");
    bench->add_option("--image-size", bench_options->image_size, "Size of the bench's own image")
        ->capture_default_str();
    bench
        ->add_option("--baseline", bench_options->baseline,
                     "What the vs column is against: fio (fio itself on the image, its best "
                     "engine) or local (pvsim's storage path alone)")
        ->capture_default_str()
        ->check(CLI::IsMember({"fio", "local"}));
    bench->add_option("--json", bench_options->json_file, "Also write the rows as JSON to FILE");
    bench
        ->add_option("--guest-cpus", bench_options->guest_cpus,
                     "The guest's CPUs (xl.cfg cpus=), where fio and the local path run too; "
                     "dom0's are --dom0-cpus (default: anywhere)")
        ->check(cli::cpu_list_validator());

    auto export_options = std::make_shared<cli::ExportOptions>();
    CLI::App* export_command = cli::add_export_command(app, export_options);

    // The first word that is not an option (or a global option's value)
    // must be a command; CLI11 would only say that one is required.
    for (int i = 1; i < argc; ++i) {
        const std::string word = argv[i];
        if (word == "--run-dir" || word == "--log-level" || word == "--io-engine" ||
            word == "--dom0-cpus") {
            ++i;
        } else if (!word.starts_with("-")) {
            if (!cli::is_command(app, word)) {
                std::cerr << cli::unknown_command_message(app, word);
                return 2;
            }
            break;
        }
    }
    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        // --help is a "parse error" of status 0; every other one is a usage
        // error: 2, as the shell's builtins and most commands use, not
        // CLI11's own 105, 106, 109...
        if (e.get_exit_code() == 0) {
            return app.exit(e);
        }
        std::cerr << cli::usage_error_message(app, e);
        return 2;
    }
    if (dom0_cpus) {
        up.dom0_cpus = os::CpuList::parse(*dom0_cpus);  // checked while parsing
    }
    if (script->parsed()) {
        cli::ScriptOptions options;
        if (run_dir) {
            options.run_dir = *run_dir;
        }
        options.up = up;
        return cli::run_script(script_file, options, std::cout, std::cerr);
    }
    if (demo->parsed()) {
        return cli::run_demo({parse_size(demo_size)}, up, std::cout, std::cerr);
    }
    if (bench->parsed()) {
        if (bench_options->job.rw == "readwrite") {
            bench_options->job.rw = "rw";
        }
        return cli::run_bench(*bench_options, up, std::cout, std::cerr);
    }
    if (export_command->parsed()) {
        return cli::run_export(*export_options, up.log_level, std::cout, std::cerr);
    }
    // Only `up` makes a run directory: every other command works on a run
    // that is there, and one that reads (list, env, down...) creates nothing.
    const os::Environment env = os::Environment::process();
    const std::string command = app.get_subcommands().front()->get_name();
    if (command != "up") {
        const std::filesystem::path dir = resolve_run_dir_path(run_dir, env);
        std::error_code ignored;
        if (!std::filesystem::exists(dir, ignored)) {
            if (command == "down") {
                std::cout << "nothing is up in " << dir.string() << "\n";
                return 0;
            }
            std::cerr << "pvsim " << command << ": no run in " << dir.string()
                      << " (pvsim up first, or --run-dir)\n";
            return 1;
        }
    }
    // io's Ctrl-C cancels the job in the guest and prints what it did so
    // far, as fio does; the other commands are short.
    std::optional<cli::Interruption> interruption;
    if (command == "io") {
        interruption.emplace();
    }
    try {
        cli::Session session(RunDir::resolve(run_dir, env), std::cout, up);
        session.set_interruption(interruption ? &*interruption : nullptr);
        selected(session);
    } catch (const std::exception& e) {
        std::cout.flush();
        if (interruption && interruption->requested()) {
            std::cerr << "pvsim " << command << ": interrupted by " << interruption->signal_name()
                      << ": " << e.what() << "\n";
            return interruption->exit_status();
        }
        std::cerr << cli::failure_message(command, e.what());
        return 1;
    }
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    // The daemons `pvsim up` starts are not waited for: ignoring SIGCHLD has
    // the kernel reap them when they end (no zombies in long scripts), and a
    // peer that goes away mid-write must not kill the CLI.
    ::signal(SIGCHLD, SIG_IGN);
    ::signal(SIGPIPE, SIG_IGN);
    return run(argc, argv);
}
