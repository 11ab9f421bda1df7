// pvsim block-attach | block-detach | block-list (DESIGN.md §7), xl's: the
// DISKSPEC is checked in full before anything is written, attach returns
// once both ends are Connected (or fails with the ends' error text, leaving
// nothing behind), detach is libxl's orderly remove; and block-resize
// (block_resize.hpp).
#include "common/units.hpp"
#include "common/xen/xenbus.hpp"
#include "tools/cli/block_attach.hpp"
#include "tools/cli/block_resize.hpp"
#include "tools/cli/command.hpp"
#include "tools/cli/table.hpp"
#include "tools/cli/validators.hpp"
#include "tools/cli/virtio_attach.hpp"
#include "tools/toolstack/disk_spec.hpp"
#include "tools/toolstack/domain.hpp"
#include "tools/toolstack/guests.hpp"
#include "tools/toolstack/vbd_status.hpp"
#include "tools/toolstack/virtio_disk.hpp"

namespace pvsim::tools::cli {
namespace {

using xen::XenbusState;

std::string state_name(std::optional<XenbusState> state) {
    return state ? std::string(xen::name(*state)) : "-";
}

// A virtio device's hotplug-status in the states' one spelling: libxl's
// "connected" is the device up, shown as xenbus_strstate names Connected.
std::string hotplug_state(const toolstack::VirtioDiskStatus& status) {
    if (!status.hotplug_status) {
        return "-";
    }
    return *status.hotplug_status == "connected" ? std::string(xen::name(XenbusState::connected))
                                                 : *status.hotplug_status;
}

struct DetachOptions {
    std::string name;
    std::string vdev;
    bool force = false;
};

void block_detach(Session& session, const DetachOptions& options) {
    const toolstack::DomainRecord domain = toolstack::find_domain(session.control(), options.name);
    if (toolstack::is_virtio_vdev(options.vdev)) {
        const auto disk =
            toolstack::find_virtio_disk(session.xenstore(), domain.domid, options.vdev);
        if (!disk) {
            throw CommandError(domain.name + " has no vdev " + options.vdev +
                               " (see `pvsim block-list " + domain.name + "`)");
        }
        // The guest closes its queues first; the device goes after.
        const std::string outcome = toolstack::detach_virtio_disk(
            session.xenstore(), session.run(), *disk, options.force, std::chrono::seconds(10));
        if (outcome != "detached" && !options.force) {
            throw CommandError("detaching " + options.vdev + " of " + domain.name +
                               ": the guest did not close it within 10000 ms; the device was "
                               "removed anyway");
        }
        return;
    }
    const auto paths = toolstack::require_vbd(session.xenstore(), domain, options.vdev);
    const bool backend_runs =
        toolstack::backend_runs(session.run(), session.control(), paths.backend_domid);
    if (!options.force && !backend_runs) {
        // xl would wait out its 10 s for a Closed that cannot come; pvsim
        // knows no backend runs, and says so at once.
        throw CommandError("no backend runs for " + options.vdev + " of " + domain.name + " (dom" +
                           std::to_string(paths.backend_domid) +
                           "'s is gone), so nothing will close it (--force removes it anyway)");
    }
    try {
        // Forced with no backend, there is no Closed to wait for.
        const std::chrono::milliseconds timeout =
            backend_runs ? std::chrono::milliseconds(10000) : std::chrono::milliseconds(0);
        toolstack::detach_vbd(session.xenstore(), paths, {timeout, options.force});
    } catch (const std::runtime_error& e) {
        throw CommandError(std::string(e.what()) + " (--force removes it anyway)");
    }
}

void block_list(Session& session, const std::string& name, bool json) {
    const toolstack::DomainRecord domain = toolstack::find_domain(session.control(), name);
    nlohmann::json vbds = nlohmann::json::array();
    Table table({"Vdev", ">BE", "Transport", "Type", "Target", "Access", "Frontend", "Backend",
                 "Features"});
    for (const auto& paths : toolstack::list_vbds(session.xenstore(), domain.domid)) {
        const toolstack::VbdStatus status = toolstack::read_vbd_status(session.xenstore(), paths);
        vbds.push_back(status.to_json());
        std::string features;
        // What is on; the JSON gives every feature with its value.
        for (const auto& [feature, value] : status.features) {
            if (value == "0") {
                continue;
            }
            features += (features.empty() ? "" : ",") + feature +
                        (value == "1" ? std::string() : "=" + value);
        }
        table.add({status.vdev, std::to_string(paths.backend_domid), "xen", status.type,
                   status.target, status.access, state_name(status.frontend_state),
                   state_name(status.backend_state), features.empty() ? "-" : features});
    }
    // virtio disks: no xenbus states; the device's hotplug-status stands
    // for the back end (an external device has none here).
    for (const auto& disk : toolstack::list_virtio_disks(session.xenstore(), domain.domid)) {
        const toolstack::VirtioDiskStatus status =
            toolstack::read_virtio_disk_status(session.xenstore(), disk);
        vbds.push_back(status.to_json());
        table.add({status.vdev, status.external() ? "-" : std::to_string(disk.backend_domid),
                   status.transport(), "-", status.target.empty() ? "-" : status.target,
                   status.access, "-", status.external() ? "-" : hotplug_state(status),
                   status.num_queues ? "queues=" + *status.num_queues : "-"});
    }
    session.print(json ? vbds.dump(2) + "\n" : table.render());
}

}  // namespace

void add_block_commands(CLI::App& app, Selected& selected, const CommandFilter& filter) {
    if (filter.wants("block-attach")) {
        auto attach = std::make_shared<std::pair<std::string, std::string>>();
        CLI::App* attach_cmd = app.add_subcommand(
            "block-attach", "Attach a disk to a guest (xl's DISKSPEC: target=PATH,vdev=xvda,...)");
        attach_cmd->add_option("NAME", attach->first, "The guest")->required();
        attach_cmd
            ->add_option("DISKSPEC", attach->second,
                         "target=PATH,vdev=xvda,access=rw,backendtype=phy|qdisk,... "
                         "(phy: blkback on the device the block hotplug step names, a loop "
                         "device for a file; qdisk: the backend opens the image itself; "
                         "default phy for a block device, qdisk for a file)")
            ->required()
            ->check(disk_spec_validator());
        attach_cmd->footer(std::string(toolstack::disk_spec_help()));
        attach_cmd->callback([&selected, attach] {
            selected = [attach](Session& session) {
                const toolstack::DiskSpec spec = toolstack::parse_disk_spec(attach->second);
                if (spec.specification == "virtio") {
                    virtio_block_attach(session, attach->first, spec);
                } else {
                    block_attach(session, attach->first, spec);
                }
            };
        });
    }

    if (filter.wants("block-detach")) {
        auto detach = std::make_shared<DetachOptions>();
        CLI::App* detach_cmd = app.add_subcommand("block-detach", "Detach a disk from a guest");
        detach_cmd->add_option("NAME", detach->name, "The guest")->required();
        detach_cmd->add_option("VDEV", detach->vdev, "Its vdev (xvda, or vda for a virtio disk)")
            ->required()
            ->check(vdev_validator());
        detach_cmd->add_flag("--force", detach->force,
                             "Remove the device even when the backend does not close in time");
        detach_cmd->callback([&selected, detach] {
            selected = [detach](Session& session) { block_detach(session, *detach); };
        });
    }

    if (filter.wants("block-resize")) {
        auto resize = std::make_shared<std::pair<ResizeOptions, std::string>>();
        CLI::App* resize_cmd = app.add_subcommand(
            "block-resize",
            "Publish a disk's new size to its guest online (with SIZE, set the image file's size "
            "first)");
        resize_cmd->add_option("NAME", resize->first.name, "The guest")->required();
        resize_cmd->add_option("VDEV", resize->first.vdev, "Its vdev (xvda)")
            ->required()
            ->check(vdev_validator());
        resize_cmd->add_option("SIZE", resize->second, "The image's new size (64M, 1G, ...)")
            ->check(size_validator());
        resize_cmd->callback([&selected, resize] {
            selected = [resize](Session& session) {
                ResizeOptions options = resize->first;
                if (!resize->second.empty()) {
                    options.bytes = parse_size(resize->second);
                }
                const std::uint64_t sectors = block_resize(session, options);
                session.print(options.vdev + " of " + options.name + ": " +
                              std::to_string(sectors) + " sectors (" + format_size(sectors * 512) +
                              ")\n");
            };
        });
    }

    if (filter.wants("block-list")) {
        auto list = std::make_shared<std::pair<std::string, bool>>();
        CLI::App* list_cmd = app.add_subcommand("block-list", "List a guest's disks");
        list_cmd->add_option("NAME", list->first, "The guest")->required();
        list_cmd->add_flag("--json", list->second, "JSON instead of a table");
        list_cmd->callback([&selected, list] {
            selected = [list](Session& session) { block_list(session, list->first, list->second); };
        });
    }
}

}  // namespace pvsim::tools::cli
