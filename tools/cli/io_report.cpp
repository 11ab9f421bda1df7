#include "tools/cli/io_report.hpp"

#include <fmt/format.h>

#include "tools/cli/table.hpp"

namespace pvsim::tools::cli {
namespace {

const nlohmann::json* domain_counters(const nlohmann::json& stats, xen::DomId domid) {
    for (const auto& domain : stats) {
        if (domain.value("domid", -1) == static_cast<int>(domid)) {
            return &domain.at("counters");
        }
    }
    return nullptr;
}

// Hypercalls as Xen would count them: the ones that reached the hypervisor
// plus event sends that took the shared fast path (each an EVTCHNOP_send).
std::uint64_t hypercalls_of(const nlohmann::json& counters) {
    std::uint64_t total = counters.value("events_sent_fast", std::uint64_t{0});
    for (const auto& [name, count] : counters.at("hypercalls").items()) {
        total += count.get<std::uint64_t>();
    }
    return total;
}

// A counter of the hypervisor's per-domain stats.
auto counter(const char* name) {
    return
        [name](const nlohmann::json& counters) { return counters.value(name, std::uint64_t{0}); };
}

template <typename Measure>
std::uint64_t delta(const nlohmann::json& before, const nlohmann::json& after, xen::DomId domid,
                    Measure measure) {
    const auto* b = domain_counters(before, domid);
    const auto* a = domain_counters(after, domid);
    if (a == nullptr) {
        return 0;
    }
    const std::uint64_t end = measure(*a);
    const std::uint64_t start = b == nullptr ? 0 : measure(*b);
    return end > start ? end - start : 0;
}

double per(std::uint64_t count, std::uint64_t requests) {
    return requests == 0 ? 0.0 : static_cast<double>(count) / static_cast<double>(requests);
}

std::string percentile(const nlohmann::json& clat, const char* key) {
    const auto& percentiles = clat.value("percentile", nlohmann::json::object());
    const auto found = percentiles.find(key);
    return found == percentiles.end() ? "-" : format_latency(found->get<double>());
}

// fio's three directions, in the order fio prints them (a trim job reports
// under "trim").
constexpr const char* kDirections[] = {"read", "write", "trim"};

}  // namespace

IoCounts IoCounts::measure(const nlohmann::json& result, const nlohmann::json& frontend,
                           const nlohmann::json& before, const nlohmann::json& after,
                           xen::DomId guest, xen::DomId backend) {
    IoCounts counts;
    counts.requests = frontend.value("requests", std::uint64_t{0});
    counts.notifications_to_backend = frontend.value("notifications_sent", std::uint64_t{0});
    counts.notifications_to_frontend = frontend.value("notifications_received", std::uint64_t{0});
    counts.hypercalls = delta(before, after, guest, hypercalls_of) +
                        (backend == guest ? 0 : delta(before, after, backend, hypercalls_of));
    const auto both = [&](const auto& measure) {
        return delta(before, after, guest, measure) +
               (backend == guest ? 0 : delta(before, after, backend, measure));
    };
    counts.grant_maps = both(counter("grant_maps"));
    counts.grant_unmaps = both(counter("grant_unmaps"));
    counts.grant_copies = both(counter("grant_copies"));
    counts.grant_ops = counts.grant_maps + counts.grant_unmaps + counts.grant_copies;
    counts.indirect_requests = frontend.value("indirect_requests", std::uint64_t{0});
    counts.data_copies = frontend.value("data_copies", std::uint64_t{0});
    counts.flushes = frontend.value("flushes", std::uint64_t{0});
    for (const auto& job : result.value("jobs", nlohmann::json::array())) {
        for (const char* direction : kDirections) {
            counts.ios +=
                job.value(direction, nlohmann::json::object()).value("total_ios", std::uint64_t{0});
        }
    }
    return counts;
}

double IoCounts::per_request(std::uint64_t count) const {
    return per(count, requests);
}

nlohmann::json IoCounts::to_json() const {
    const std::pair<const char*, std::uint64_t> counted[] = {
        {"notifications_to_backend", notifications_to_backend},
        {"notifications_to_frontend", notifications_to_frontend},
        {"hypercalls", hypercalls},
        {"grant_maps", grant_maps},
        {"grant_unmaps", grant_unmaps},
        {"grant_copies", grant_copies},
        {"grant_ops", grant_ops},
        {"indirect_requests", indirect_requests},
        {"data_copies", data_copies},
        {"flushes", flushes},
    };
    nlohmann::json out = {
        {"requests", requests}, {"ios", ios}, {"requests_per_io", per(requests, ios)}};
    nlohmann::json per_request_json = nlohmann::json::object();
    for (const auto& [name, count] : counted) {
        out[name] = count;
        per_request_json[name] = per(count, requests);
    }
    out["per_request"] = std::move(per_request_json);
    return out;
}

// Each unit is chosen by the value as printed, so that what would round up
// to 1000 (or 1024) of one unit shows as 1 of the next: 999999 ns is
// "1.00ms", not "1000.0us".
std::string format_rate(double per_second) {
    if (per_second >= 1e6 - 0.5e2) {
        return fmt::format("{:.2f}M", per_second / 1e6);
    }
    if (per_second >= 1e4 - 0.5) {
        return fmt::format("{:.1f}k", per_second / 1e3);
    }
    return fmt::format("{:.0f}", per_second);
}

std::string format_bandwidth(double bytes_per_second) {
    constexpr double kKiB = 1024.0, kMiB = kKiB * 1024, kGiB = kMiB * 1024;
    if (bytes_per_second >= kGiB - 0.05 * kMiB) {
        return fmt::format("{:.2f} GiB/s", bytes_per_second / kGiB);
    }
    if (bytes_per_second >= kMiB - 0.05 * kKiB) {
        return fmt::format("{:.1f} MiB/s", bytes_per_second / kMiB);
    }
    return fmt::format("{:.1f} KiB/s", bytes_per_second / kKiB);
}

std::string format_latency(double ns) {
    if (ns >= 1e9 - 0.5e4) {
        return fmt::format("{:.2f}s", ns / 1e9);
    }
    if (ns >= 1e6 - 0.5e2) {
        return fmt::format("{:.2f}ms", ns / 1e6);
    }
    if (ns >= 1e3 - 0.5) {
        return fmt::format("{:.1f}us", ns / 1e3);
    }
    return fmt::format("{:.0f}ns", ns);
}

// fio prints no verify line; pvsim always does, saying what was checked or
// why nothing was.
std::string verify_line(const std::string& name, const nlohmann::json& job) {
    const auto& own = job.value("pvsim", nlohmann::json::object());
    const auto& v = own.value("verify", nlohmann::json::object());
    if (!v.value("enabled", false)) {
        return fmt::format(
            "verify{}: off (--verify crc32c checks each block read against what "
            "was written there)\n",
            name.empty() ? "" : " " + name);
    }
    const auto checked = v.value("blocks_checked", std::uint64_t{0});
    const auto unwritten = v.value("blocks_unwritten", std::uint64_t{0});
    // A block pvsim never wrote with verify on this disk holds data no one
    // can predict: reading it is all there is to check.
    const std::string unwritten_text = fmt::format(
        "{} block{} read that pvsim never wrote with verify (data not known, only "
        "the read checked)",
        unwritten, unwritten == 1 ? "" : "s");
    if (checked > 0) {
        return fmt::format("verify {}: {} block{} checked{}\n", name, checked,
                           checked == 1 ? "" : "s",
                           unwritten > 0 ? "; " + unwritten_text : std::string());
    }
    const bool read_back = v.value("read_back", false);
    std::string why;
    if (unwritten > 0) {
        why = unwritten_text;
    } else if (own.contains("error")) {
        why = read_back ? "the job stopped before a block was read back"
                        : "the job stopped before a block was read";
    } else {
        why = read_back ? "nothing was written to read back" : "no block was read";
    }
    return fmt::format("verify {}: nothing checked: {}\n", name, why);
}

std::string render_io_table(const nlohmann::json& result, const IoCounts& counts,
                            std::string_view request_kind) {
    Table table({"Job", "Dir", ">IOPS", ">BW", ">p50", ">p90", ">p99", ">p99.9", ">max"});
    std::string verify;
    bool verified = false;
    for (const auto& job : result.value("jobs", nlohmann::json::array())) {
        verified = verified || job.value("pvsim", nlohmann::json::object())
                                   .value("verify", nlohmann::json::object())
                                   .value("enabled", false);
    }
    if (!verified) {
        // One line for the run, however many jobs.
        verify = verify_line("", nlohmann::json::object());
    }
    for (const auto& job : result.value("jobs", nlohmann::json::array())) {
        const std::string name =
            job.value("jobname", std::string("job")) + "." +
            std::to_string(job.value("pvsim", nlohmann::json::object()).value("jobnum", 0));
        for (const char* direction : kDirections) {
            const auto& stats = job.value(direction, nlohmann::json::object());
            if (stats.value("total_ios", std::uint64_t{0}) == 0) {
                continue;
            }
            const auto& clat = stats.value("clat_ns", nlohmann::json::object());
            table.add({name, direction, format_rate(stats.value("iops", 0.0)),
                       format_bandwidth(stats.value("bw_bytes", 0.0)),
                       percentile(clat, "50.000000"), percentile(clat, "90.000000"),
                       percentile(clat, "99.000000"), percentile(clat, "99.900000"),
                       format_latency(clat.value("max", 0.0))});
        }
        if (verified) {
            verify += verify_line(name, job);
        }
    }
    const std::uint64_t requests = counts.requests;
    return table.render() + verify +
           fmt::format(
               "per request ({} {} requests for {} I/Os, {} indirect): notifications {:.3f} "
               "to backend, {:.3f} to frontend; hypercalls {:.2f}; grant maps {:.2f}, unmaps "
               "{:.2f}, copies {:.2f} (grant ops {:.2f}); data copies {:.2f}\n",
               requests, request_kind, counts.ios, counts.indirect_requests,
               per(counts.notifications_to_backend, requests),
               per(counts.notifications_to_frontend, requests), per(counts.hypercalls, requests),
               per(counts.grant_maps, requests), per(counts.grant_unmaps, requests),
               per(counts.grant_copies, requests), per(counts.grant_ops, requests),
               per(counts.data_copies, requests));
}

}  // namespace pvsim::tools::cli
