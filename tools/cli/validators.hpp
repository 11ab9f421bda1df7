// CLI11 validators for pvsim's value syntaxes, so that a bad size, duration
// or DISKSPEC is refused while the command line (or a script, before its
// first line runs) is parsed, with the parser's own message (less the
// argument's name, which CLI11 puts before it).
#pragma once

#include <CLI/CLI.hpp>

namespace pvsim::tools::cli {

// parse_size (common/units.hpp): "4k", "64M", ...
CLI::Validator size_validator();
// parse_duration: "10" (seconds), "500ms", "2m", ...
CLI::Validator duration_validator();
// parse_disk_spec (tools/toolstack/disk_spec.hpp).
CLI::Validator disk_spec_validator();
// xen::vdev_number (common/xen/vbd_interface.hpp): "xvda", "51712", ...
CLI::Validator vdev_validator();
// A xenbus state by number or name (xen::xenbus_state_from_name).
CLI::Validator xenbus_state_validator();
// xl.cfg's cpus= (os::CpuList::parse), every CPU one this host runs on.
CLI::Validator cpu_list_validator();

}  // namespace pvsim::tools::cli
