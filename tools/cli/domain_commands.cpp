// pvsim create | destroy | list (DESIGN.md §7), xl's domain commands.
#include "common/units.hpp"
#include "tools/cli/command.hpp"
#include "tools/cli/table.hpp"
#include "tools/cli/validators.hpp"
#include "tools/toolstack/guests.hpp"
#include "tools/toolstack/vbd_status.hpp"

namespace pvsim::tools::cli {
namespace {

struct CreateOptions {
    std::string name;
    std::string memory = "64M";
};

void create(Session& session, const CreateOptions& options) {
    toolstack::GuestSpec spec;
    spec.name = options.name;
    spec.memory_bytes = parse_size(options.memory);
    spec.log_level = session.up_options().log_level;
    const toolstack::DomainRecord domain = toolstack::create_guest(
        session.run(), session.programs(), session.control(), session.xenstore(), spec);
    session.print(std::to_string(domain.domid) + "\n");
}

void destroy(Session& session, const std::string& name) {
    const toolstack::DomainRecord domain = toolstack::find_domain(session.control(), name);
    if (domain.domid == 0) {
        throw CommandError("domain 0 cannot be destroyed (pvsim down stops the run)");
    }
    toolstack::destroy_guest(session.run(), session.control(), session.xenstore(), domain);
}

void list(Session& session, bool json) {
    nlohmann::json domains = nlohmann::json::array();
    Table table({"Name", ">ID", ">Mem(MiB)", "State", ">VBDs"});
    for (const toolstack::DomainRecord& domain : toolstack::list_domains(session.control())) {
        const std::size_t vbds = toolstack::list_vbds(session.xenstore(), domain.domid).size();
        domains.push_back({{"domid", domain.domid},
                           {"name", domain.name},
                           {"state", domain.state},
                           {"memory", domain.memory_bytes},
                           {"vbds", vbds}});
        table.add({domain.name, std::to_string(domain.domid),
                   std::to_string(domain.memory_bytes >> 20), domain.state, std::to_string(vbds)});
    }
    session.print(json ? domains.dump(2) + "\n" : table.render());
}

}  // namespace

void add_domain_commands(CLI::App& app, Selected& selected) {
    auto options = std::make_shared<CreateOptions>();
    CLI::App* create_cmd = app.add_subcommand("create", "Create a guest domain; prints its domid");
    create_cmd->add_option("NAME", options->name, "The guest's name")->required();
    create_cmd->add_option("--memory", options->memory, "Its memory (64M, 1G, ...)")
        ->capture_default_str()
        ->check(size_validator());
    create_cmd->callback([&selected, options] {
        selected = [options](Session& session) { create(session, *options); };
    });

    auto name = std::make_shared<std::string>();
    CLI::App* destroy_cmd = app.add_subcommand("destroy", "Detach a guest's disks and destroy it");
    destroy_cmd->add_option("NAME", *name, "The guest's name or domid")->required();
    destroy_cmd->callback(
        [&selected, name] { selected = [name](Session& session) { destroy(session, *name); }; });

    auto json = std::make_shared<bool>(false);
    CLI::App* list_cmd = app.add_subcommand("list", "List the domains");
    list_cmd->add_flag("--json", *json, "JSON instead of a table");
    list_cmd->callback(
        [&selected, json] { selected = [json](Session& session) { list(session, *json); }; });
}

}  // namespace pvsim::tools::cli
