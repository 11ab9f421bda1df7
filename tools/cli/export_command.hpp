// `pvsim export vhost-user-blk --target PATH --socket PATH [--queues N]
// [--read-only] [--io-engine E] [--poll-us U]` (DESIGN.md §6): pvsim's
// vhost-user-blk device (backend/vhost_user_blk, the VhostUserBlkServer
// pvsim-backend runs for virtio disks) serving one target on a unix socket,
// in the foreground and in this process, with no hypervisor, xenstored or
// run directory: what qemu-storage-daemon's `--export
// type=vhost-user-blk,addr.type=unix,...` is, so that QEMU (and the Linux
// virtio-blk driver in its guest) or any other vhost-user front-end can
// drive the device.
//
// Every option is checked before anything starts: the target exists, is a
// regular file or a block device and allows the access asked for; the
// socket's directory exists, its path fits a sockaddr_un, and nothing else
// is there (a socket nobody listens on is replaced). Then it prints one
// line on stdout once it listens, logs to stderr, serves one front-end at a
// time (a second one at the same time is refused; the next after a
// disconnection is served), and on SIGINT or SIGTERM stops: the front-end's
// queues finish their I/O, the socket file goes, the target is closed, and
// the exit status is 0.
#pragma once

#include <iosfwd>
#include <memory>
#include <optional>
#include <string>

#include <CLI/CLI.hpp>

namespace pvsim::tools::cli {

struct ExportOptions {
    std::string type;  // the kind of export: vhost-user-blk, the only one
    std::string target;
    std::string socket;
    unsigned queues = 1;
    bool read_only = false;
    std::string io_engine = "auto";
    unsigned poll_us = 50;
};

// Adds the `export` subcommand; the options land in `options` when it is
// parsed.
CLI::App* add_export_command(CLI::App& app, const std::shared_ptr<ExportOptions>& options);

// Serves until SIGINT or SIGTERM; the exit status (0 after a stop by
// signal, 1 when the export could not start, with "pvsim export: <why>" on
// `err`). `log_level` is pvsim's --log-level (else $PVSIM_LOG, else info).
int run_export(const ExportOptions& options, const std::optional<std::string>& log_level,
               std::ostream& out, std::ostream& err);

}  // namespace pvsim::tools::cli
