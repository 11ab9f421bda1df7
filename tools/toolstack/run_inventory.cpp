#include "tools/toolstack/run_inventory.hpp"

#include <algorithm>
#include <charconv>
#include <fstream>
#include <iterator>
#include <optional>

#include "common/os/shared_memory.hpp"
#include "tools/toolstack/run_daemons.hpp"

namespace pvsim::tools::toolstack {
namespace {

bool is_pvsim_program(const std::string& name) {
    return name == "pvsim-hypervisor" || name == "pvsim-xenstored" || name == "pvsim-backend" ||
           name == "pvsim-guest" || name == "pvsim-monitor";
}

// The nul-separated strings of /proc/<pid>/<file>; none when the process
// has gone. A process that exits while it is read fails the read(2) with
// ESRCH, which libstdc++'s filebuf throws from the iterator ("basic_filebuf::
// underflow error reading the file: No such process"): a scan of /proc
// while a run goes down sees that.
std::vector<std::string> proc_strings(const std::filesystem::path& file) {
    std::ifstream in(file, std::ios::binary);
    std::string all;
    try {
        all.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    } catch (const std::ios_base::failure&) {
        return {};
    }
    std::vector<std::string> strings;
    std::size_t start = 0;
    while (start < all.size()) {
        std::size_t end = all.find('\0', start);
        if (end == std::string::npos) {
            end = all.size();
        }
        strings.push_back(all.substr(start, end - start));
        start = end + 1;
    }
    return strings;
}

bool same_dir(const std::string& text, const std::filesystem::path& run) {
    std::error_code ec;
    return std::filesystem::equivalent(text, run, ec) && !ec;
}

bool belongs_to(const std::filesystem::path& proc, const std::filesystem::path& run) {
    for (const std::string& entry : proc_strings(proc / "environ")) {
        if (entry.starts_with("PVSIM_RUN_DIR=") && same_dir(entry.substr(14), run)) {
            return true;
        }
    }
    const auto args = proc_strings(proc / "cmdline");
    for (std::size_t i = 0; i + 1 < args.size(); ++i) {
        if (args[i] == "--run-dir" && same_dir(args[i + 1], run)) {
            return true;
        }
    }
    return false;
}

template <typename List>
std::string listed(const std::string& what, const List& items) {
    std::string text = std::to_string(items.size()) + " " + what + (items.size() == 1 ? "" : "s");
    std::string names;
    for (const auto& item : items) {
        names += (names.empty() ? "" : ", ") + item;
    }
    return text + " (" + names + ")";
}

}  // namespace

std::string RunInventory::describe() const {
    std::vector<std::string> parts;
    if (!processes.empty()) {
        std::vector<std::string> names;
        for (const auto& process : processes) {
            names.push_back(process.program + " " + std::to_string(process.pid));
        }
        parts.push_back(listed("process", names));
    }
    if (!shared_memory.empty()) {
        parts.push_back(listed("shared-memory object", shared_memory));
    }
    if (!sockets.empty()) {
        std::vector<std::string> names;
        for (const auto& socket : sockets) {
            names.push_back(socket.string());
        }
        parts.push_back(listed("socket", names));
    }
    std::string text;
    for (const auto& part : parts) {
        text += (text.empty() ? "" : ", ") + part;
    }
    return text.empty() ? "nothing" : text;
}

RunInventory left_by_dead_domains(const RunInventory& inventory,
                                  const std::vector<DomainRecord>& live) {
    RunInventory left;
    const auto is_live_pid = [&](pid_t pid) {
        return std::any_of(live.begin(), live.end(),
                           [&](const DomainRecord& d) { return d.pid == pid; });
    };
    for (const RunProcess& process : inventory.processes) {
        if (process.program == "pvsim-guest" && !is_live_pid(process.pid)) {
            left.processes.push_back(process);
        }
    }
    for (const std::string& name : inventory.shared_memory) {
        // os::shm_name(tag, "dom<N>.<what>"): the domain is the number after
        // the last ".dom" that is followed by digits and a '.'.
        std::optional<xen::DomId> owner;
        for (std::size_t at = name.find(".dom"); at != std::string::npos;
             at = name.find(".dom", at + 1)) {
            unsigned domid = 0;
            const char* first = name.data() + at + 4;
            const char* end = name.data() + name.size();
            const auto [ptr, ec] = std::from_chars(first, end, domid);
            if (ec == std::errc{} && ptr != first && ptr != end && *ptr == '.') {
                owner = static_cast<xen::DomId>(domid);
            }
        }
        if (owner && std::none_of(live.begin(), live.end(),
                                  [&](const DomainRecord& d) { return d.domid == *owner; })) {
            left.shared_memory.push_back(name);
        }
    }
    return left;
}

RunInventory take_inventory(const RunDir& run) {
    RunInventory inventory;
    for (const auto& entry : std::filesystem::directory_iterator("/proc")) {
        const std::string name = entry.path().filename().string();
        pid_t pid = 0;
        const auto [ptr, ec] = std::from_chars(name.data(), name.data() + name.size(), pid);
        if (ec != std::errc{} || ptr != name.data() + name.size()) {
            continue;
        }
        const std::optional<std::string> program = program_of(pid);
        if (!program || !is_pvsim_program(*program)) {
            continue;
        }
        if (belongs_to(entry.path(), run.path())) {
            inventory.processes.push_back({pid, *program});
        }
    }
    inventory.shared_memory = os::list_run_shm(run.shm_tag());
    for (const auto& entry : std::filesystem::recursive_directory_iterator(run.path())) {
        if (entry.is_socket()) {
            inventory.sockets.push_back(entry.path());
        }
    }
    return inventory;
}

}  // namespace pvsim::tools::toolstack
