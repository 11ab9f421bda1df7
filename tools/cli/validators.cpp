#include "tools/cli/validators.hpp"

#include <functional>

#include "common/os/cpu_list.hpp"
#include "common/units.hpp"
#include "common/xen/vbd_interface.hpp"
#include "common/xen/xenbus.hpp"
#include "tools/toolstack/disk_spec.hpp"
#include "tools/toolstack/vbd.hpp"
#include "tools/toolstack/virtio_disk.hpp"

namespace pvsim::tools::cli {
namespace {

// CLI11 puts the argument's name before a validator's message ("DISKSPEC:
// ..."), so a parser's message that starts with the name already (as
// parse_disk_spec's do, for the callers that are not CLI11) gives it once.
CLI::Validator parsing_with(const std::string& name,
                            const std::function<void(const std::string&)>& parse) {
    return CLI::Validator(
        [parse, prefix = name + ": "](std::string& value) -> std::string {
            try {
                parse(value);
                return {};
            } catch (const ParseError& e) {
                const std::string message = e.what();
                return message.starts_with(prefix) ? message.substr(prefix.size()) : message;
            }
        },
        name);
}

}  // namespace

CLI::Validator size_validator() {
    return parsing_with("SIZE", [](const std::string& v) { (void)parse_size(v); });
}

CLI::Validator duration_validator() {
    return parsing_with("DURATION", [](const std::string& v) { (void)parse_duration(v); });
}

CLI::Validator disk_spec_validator() {
    return parsing_with("DISKSPEC",
                        [](const std::string& v) { (void)toolstack::parse_disk_spec(v); });
}

CLI::Validator vdev_validator() {
    return parsing_with("VDEV", [](const std::string& v) {
        if (!toolstack::is_virtio_vdev(v)) {
            (void)xen::vdev_number(v);
        }
    });
}

CLI::Validator xenbus_state_validator() {
    return parsing_with("STATE", [](const std::string& v) {
        if (!xen::xenbus_state_from_name(v)) {
            throw ParseError("state \"" + v +
                             "\": expected a number 0-8 or a name (Initialising, InitWait, "
                             "Initialised, Connected, Closing, Closed, ...)");
        }
    });
}

CLI::Validator cpu_list_validator() {
    return CLI::Validator(
        [](std::string& value) -> std::string {
            try {
                os::CpuList::parse(value).check_within(os::CpuList::allowed());
                return {};
            } catch (const std::invalid_argument& e) {
                return e.what();
            }
        },
        "CPUS");
}

}  // namespace pvsim::tools::cli
