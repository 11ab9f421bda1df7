// pvsim create | destroy | list (DESIGN.md §7), xl's domain commands.
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "common/os/cpu_list.hpp"
#include "common/units.hpp"
#include "tools/cli/command.hpp"
#include "tools/cli/table.hpp"
#include "tools/cli/validators.hpp"
#include "tools/toolstack/guests.hpp"
#include "tools/toolstack/run_daemons.hpp"
#include "tools/toolstack/vbd_status.hpp"
#include "tools/toolstack/virtio_disk.hpp"

namespace pvsim::tools::cli {
namespace {

struct CreateOptions {
    std::string name;
    std::string memory = "64M";
    bool driver_domain = false;
    std::optional<std::string> cpus;
};

// xl's memory= is in MiB: a bare number is MiB here too.
std::uint64_t memory_bytes(const std::string& memory) {
    const bool bare =
        !memory.empty() && memory.find_first_not_of("0123456789") == std::string::npos;
    return parse_size(bare ? memory + "M" : memory);
}

// `xl create` takes a config file; pvsim's create takes a name. A name that
// looks like a file is refused rather than made a domain called "vm.cfg".
void check_domain_name(const std::string& name) {
    std::error_code ec;
    const bool config_like = name.ends_with(".cfg") || name.ends_with(".conf") ||
                             std::filesystem::is_regular_file(name, ec);
    if (config_like) {
        throw CommandError("\"" + name +
                           "\" looks like an xl config file; pvsim create takes the guest's NAME "
                           "and reads no config file (create NAME --memory 64, then block-attach "
                           "NAME DISKSPEC for each disk= entry)");
    }
}

void create(Session& session, const CreateOptions& options) {
    check_domain_name(options.name);
    (void)toolstack::reap_dead_domains(session.run(), session.control(), session.xenstore());
    toolstack::GuestSpec spec;
    spec.name = options.name;
    spec.memory_bytes = memory_bytes(options.memory);
    spec.log_level = session.up_options().log_level;
    spec.driver_domain = options.driver_domain;
    if (options.cpus) {
        spec.cpus = os::CpuList::parse(*options.cpus);  // checked while parsing
    }
    const toolstack::DomainRecord domain = toolstack::create_guest(
        session.run(), session.programs(), session.control(), session.xenstore(), spec);
    session.print(std::to_string(domain.domid) + "\n");
}

void destroy(Session& session, const std::string& name) {
    const toolstack::DomainRecord domain = toolstack::find_domain(session.control(), name);
    if (domain.domid == 0) {
        throw CommandError("domain 0 cannot be destroyed (pvsim down stops the run)");
    }
    // A driver domain's vbds would lose their backend with it, and their
    // guests the I/O in flight: refused until they are detached.
    if (const auto served =
            toolstack::vbds_served_by(session.control(), session.xenstore(), domain.domid);
        !served.empty()) {
        std::string which;
        for (const toolstack::VbdPaths& paths : served) {
            const auto status = toolstack::read_vbd_status(session.xenstore(), paths);
            const auto guest =
                toolstack::find_domain(session.control(), std::to_string(paths.domid));
            which += (which.empty() ? "" : ", ") + guest.name + "'s " + status.vdev;
        }
        throw CommandError(domain.name + " is the backend of " + which +
                           "; block-detach them first");
    }
    toolstack::destroy_guest(session.run(), session.control(), session.xenstore(), domain);
}

struct ListOptions {
    std::optional<std::string> name;  // xl list NAME: that domain alone
    bool json = false;
};

void list(Session& session, const ListOptions& options) {
    std::vector<toolstack::DomainRecord> records;
    if (options.name) {
        records.push_back(toolstack::find_domain(session.control(), *options.name));
    } else {
        records = toolstack::list_domains(session.control());
    }
    // Where each domain runs, as the kernel has it (xl vcpu-list's "CPU
    // Affinity"): its process's CPUs; dom0's are its backend's (--dom0-cpus).
    const auto cpus_of = [&session](const toolstack::DomainRecord& domain) {
        std::optional<pid_t> pid;
        if (domain.pid != 0) {
            pid = domain.pid;
        } else if (domain.domid == 0) {
            pid = toolstack::daemon_pid(session.run(), toolstack::kDom0Daemon);
        }
        return pid ? os::CpuList::of_process(*pid) : std::nullopt;
    };
    nlohmann::json domains = nlohmann::json::array();
    Table table({"Name", ">ID", ">Mem(MiB)", "State", ">Disks", "CPUs"});
    for (const toolstack::DomainRecord& domain : records) {
        const std::size_t vbds = toolstack::list_vbds(session.xenstore(), domain.domid).size();
        const std::size_t virtio =
            toolstack::list_virtio_disks(session.xenstore(), domain.domid).size();
        const std::optional<os::CpuList> cpus = cpus_of(domain);
        domains.push_back({{"domid", domain.domid},
                           {"name", domain.name},
                           {"state", domain.state},
                           {"memory", domain.memory_bytes},
                           {"vbds", vbds},
                           {"virtio_disks", virtio},
                           {"cpus", cpus ? nlohmann::json(cpus->to_string()) : nullptr}});
        table.add({domain.name, std::to_string(domain.domid),
                   std::to_string(domain.memory_bytes >> 20), domain.state,
                   std::to_string(vbds + virtio), cpus ? cpus->to_string() : "-"});
    }
    session.print(options.json ? domains.dump(2) + "\n" : table.render());
}

}  // namespace

void add_domain_commands(CLI::App& app, Selected& selected, const CommandFilter& filter) {
    if (filter.wants("create")) {
        auto options = std::make_shared<CreateOptions>();
        CLI::App* create_cmd =
            app.add_subcommand("create", "Create a guest domain; prints its domid");
        create_cmd->add_option("NAME", options->name, "The guest's name")->required();
        create_cmd->add_option("--memory", options->memory, "Its memory (64M, 1G, ...; MiB alone)")
            ->capture_default_str()
            ->check(size_validator());
        create_cmd->add_flag(
            "--driver-domain", options->driver_domain,
            "A driver domain (xl.cfg driver_domain=1): it runs blkback for the disks "
            "attached with backend=NAME, and no guest agent");
        create_cmd
            ->add_option("--cpus", options->cpus,
                         "The host CPUs its process runs on, as xl.cfg's cpus= (0-1, 0,^1, all; "
                         "default: anywhere)")
            ->check(cpu_list_validator());
        create_cmd->callback([&selected, options] {
            selected = [options](Session& session) { create(session, *options); };
        });
    }

    if (filter.wants("destroy")) {
        auto name = std::make_shared<std::string>();
        CLI::App* destroy_cmd =
            app.add_subcommand("destroy", "Detach a guest's disks and destroy it");
        destroy_cmd->add_option("NAME", *name, "The guest's name or domid")->required();
        destroy_cmd->callback([&selected, name] {
            selected = [name](Session& session) { destroy(session, *name); };
        });
    }

    if (filter.wants("list")) {
        auto list_options = std::make_shared<ListOptions>();
        CLI::App* list_cmd = app.add_subcommand("list", "List the domains");
        list_cmd->add_option("NAME", list_options->name, "One domain only (name or domid)");
        list_cmd->add_flag("--json", list_options->json, "JSON instead of a table");
        list_cmd->callback([&selected, list_options] {
            selected = [list_options](Session& session) { list(session, *list_options); };
        });
    }
}

}  // namespace pvsim::tools::cli
