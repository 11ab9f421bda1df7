// What `pvsim io` reports (tools/cli/io_report.hpp): the per-request counts
// taken from the hypervisor's "stats" (hypervisor/protocol/control.hpp)
// before and after a run, the frontend's counter deltas
// (frontend/guest/agent_protocol.hpp) and the job's fio-shaped result; and
// the table's number formatting at its unit boundaries.
#include <gtest/gtest.h>

#include <string>

#include <nlohmann/json.hpp>

#include "tools/cli/io_report.hpp"

namespace pvsim::tools::cli {
namespace {

using nlohmann::json;

constexpr xen::DomId kGuest = 3;
constexpr xen::DomId kOtherGuest = 5;

// One domain's entry of the "stats" reply.
json domain_stats(xen::DomId domid, const std::string& name, std::uint64_t grant_map_calls,
                  std::uint64_t evtchn_send_calls, std::uint64_t sent_fast,
                  std::uint64_t grant_maps, std::uint64_t grant_unmaps,
                  std::uint64_t grant_copies) {
    return {{"domid", domid},
            {"name", name},
            {"counters",
             {{"hypercalls",
               {{"domain_info", 1},
                {"grant_map", grant_map_calls},
                {"grant_unmap", grant_map_calls},
                {"grant_copy", 0},
                {"evtchn_send", evtchn_send_calls},
                {"evtchn_alloc_unbound", 1}}},
              {"grant_maps", grant_maps},
              {"grant_unmaps", grant_unmaps},
              {"grant_copies", grant_copies},
              {"foreign_maps", 7},
              {"events_sent", evtchn_send_calls},
              {"events_sent_fast", sent_fast},
              {"events_delivered", 0}}}};
}

// dom0 (the backend), the guest under test and a bystander.
const json kBefore = json::array({
    domain_stats(0, "Domain-0", 100, 7, 50, 400, 400, 0),
    domain_stats(kGuest, "g", 0, 2, 10, 0, 0, 0),
    domain_stats(kOtherGuest, "other", 0, 1, 1, 0, 0, 0),
});
// Over the run: dom0 made 250 grant_map and 250 grant_unmap hypercalls
// (1000 maps, 1000 unmaps) and 250 fast event sends; the guest 5 slow and
// 245 fast sends. The bystander's activity is not the guest's.
const json kAfter = json::array({
    domain_stats(0, "Domain-0", 350, 7, 300, 1400, 1400, 0),
    domain_stats(kGuest, "g", 0, 7, 255, 0, 0, 0),
    domain_stats(kOtherGuest, "other", 900, 900, 900, 900, 900, 900),
});

const json kFrontend = {{"requests", 1000},
                        {"segments", 1000},
                        {"bytes", 4096000},
                        {"responses", 1000},
                        {"notifications_sent", 250},
                        {"notifications_suppressed", 750},
                        {"notifications_received", 125},
                        {"grants_deferred", 0},
                        {"indirect_requests", 10},
                        {"data_copies", 500}};

json direction(std::uint64_t ios, double iops, double bw_bytes) {
    return {{"io_bytes", ios * 4096},
            {"bw_bytes", bw_bytes},
            {"iops", iops},
            {"total_ios", ios},
            {"clat_ns",
             {{"min", 1000},
              {"max", 2500000},
              {"mean", 40000},
              {"percentile",
               {{"50.000000", 38200},
                {"90.000000", 51000},
                {"99.000000", 999950},
                {"99.900000", 1500000}}}}}};
}

// Two jobs: 300 reads and 100 writes, then 100 writes.
const json kResult = {
    {"fio version", "pvsim-test"},
    {"jobs",
     json::array(
         {{{"jobname", "pvsim"},
           {"read", direction(300, 12345, 47.9 * 1024 * 1024)},
           {"write", direction(100, 9999, 1048575)},
           {"pvsim",
            {{"jobnum", 0},
             {"verify", {{"enabled", true}, {"blocks_checked", 64}, {"blocks_unwritten", 0}}}}}},
          {{"jobname", "pvsim"},
           {"read", direction(0, 0, 0)},
           {"write", direction(100, 1e6, 1536.0 * 1024 * 1024)},
           {"pvsim", {{"jobnum", 1}, {"verify", {{"enabled", false}}}}}}})}};

TEST(IoCounts, MeasuresDeltasOfTheGuestAndItsBackend) {
    const IoCounts counts = IoCounts::measure(kResult, kFrontend, kBefore, kAfter, kGuest, 0);
    EXPECT_EQ(counts.requests, 1000u);
    EXPECT_EQ(counts.notifications_to_backend, 250u);
    EXPECT_EQ(counts.notifications_to_frontend, 125u);
    // dom0: 250 + 250 hypercalls + 250 fast sends; guest: 5 + 245.
    EXPECT_EQ(counts.hypercalls, 1000u);
    EXPECT_EQ(counts.grant_ops, 2000u);
    EXPECT_EQ(counts.grant_maps, 1000u);
    EXPECT_EQ(counts.grant_unmaps, 1000u);
    EXPECT_EQ(counts.grant_copies, 0u);
    EXPECT_EQ(counts.indirect_requests, 10u);
    EXPECT_EQ(counts.data_copies, 500u);
    EXPECT_EQ(counts.ios, 500u);
}

TEST(IoCounts, GrantCopiesAreCountedApart) {
    const json before = json::array({domain_stats(0, "Domain-0", 0, 0, 0, 10, 10, 100),
                                     domain_stats(kGuest, "g", 0, 0, 0, 0, 0, 0)});
    const json after = json::array({domain_stats(0, "Domain-0", 0, 0, 0, 12, 12, 1100),
                                    domain_stats(kGuest, "g", 0, 0, 0, 0, 0, 0)});
    const IoCounts counts = IoCounts::measure(kResult, kFrontend, before, after, kGuest, 0);
    EXPECT_EQ(counts.grant_maps, 2u);
    EXPECT_EQ(counts.grant_unmaps, 2u);
    EXPECT_EQ(counts.grant_copies, 1000u);
    EXPECT_EQ(counts.grant_ops, 1004u);
    EXPECT_DOUBLE_EQ(counts.per_request(counts.grant_copies), 1.0);
    // A frontend without the newer counters reads as none.
    const IoCounts old = IoCounts::measure(kResult, {{"requests", 4}}, before, after, kGuest, 0);
    EXPECT_EQ(old.indirect_requests, 0u);
    EXPECT_EQ(old.data_copies, 0u);
}

TEST(IoCounts, PerRequestJson) {
    const json j = IoCounts::measure(kResult, kFrontend, kBefore, kAfter, kGuest, 0).to_json();
    EXPECT_EQ(j.at("requests"), 1000);
    EXPECT_EQ(j.at("ios"), 500);
    EXPECT_DOUBLE_EQ(j.at("requests_per_io").get<double>(), 2.0);
    EXPECT_EQ(j.at("hypercalls"), 1000);
    EXPECT_EQ(j.at("grant_ops"), 2000);
    const json& per = j.at("per_request");
    EXPECT_DOUBLE_EQ(per.at("notifications_to_backend").get<double>(), 0.25);
    EXPECT_DOUBLE_EQ(per.at("notifications_to_frontend").get<double>(), 0.125);
    EXPECT_DOUBLE_EQ(per.at("hypercalls").get<double>(), 1.0);
    EXPECT_DOUBLE_EQ(per.at("grant_ops").get<double>(), 2.0);
    EXPECT_DOUBLE_EQ(per.at("grant_maps").get<double>(), 1.0);
    EXPECT_DOUBLE_EQ(per.at("grant_unmaps").get<double>(), 1.0);
    EXPECT_DOUBLE_EQ(per.at("grant_copies").get<double>(), 0.0);
    EXPECT_DOUBLE_EQ(per.at("indirect_requests").get<double>(), 0.01);
    EXPECT_DOUBLE_EQ(per.at("data_copies").get<double>(), 0.5);
    EXPECT_EQ(j.at("grant_maps"), 1000);
    EXPECT_EQ(j.at("indirect_requests"), 10);
    EXPECT_EQ(j.at("data_copies"), 500);
}

TEST(IoCounts, DomainMissingFromBeforeCountsFromZero) {
    const json before = json::array({kBefore[0]});
    const IoCounts counts = IoCounts::measure(kResult, kFrontend, before, kAfter, kGuest, 0);
    // The guest's whole after: domain_info, evtchn_alloc_unbound, 7 sends
    // and 255 fast sends; dom0's delta as before.
    EXPECT_EQ(counts.hypercalls, 750u + 1 + 1 + 7 + 255);
    EXPECT_EQ(counts.grant_ops, 2000u);
}

TEST(IoCounts, DomainMissingFromAfterCountsNothing) {
    const json after = json::array({kAfter[0]});
    const IoCounts counts = IoCounts::measure(kResult, kFrontend, kBefore, after, kGuest, 0);
    EXPECT_EQ(counts.hypercalls, 750u);
}

TEST(IoCounts, BackendInTheGuestCountsOnce) {
    const IoCounts counts = IoCounts::measure(kResult, kFrontend, kBefore, kAfter, kGuest, kGuest);
    EXPECT_EQ(counts.hypercalls, 250u);
    EXPECT_EQ(counts.grant_ops, 0u);
}

TEST(IoCounts, NothingToMeasureIsZeroNotADivisionByZero) {
    const IoCounts counts =
        IoCounts::measure(json::object(), json::object(), json::array(), json::array(), kGuest, 0);
    EXPECT_EQ(counts.requests, 0u);
    EXPECT_EQ(counts.ios, 0u);
    EXPECT_EQ(counts.hypercalls, 0u);
    const json j = counts.to_json();
    EXPECT_EQ(j.at("requests_per_io").get<double>(), 0.0);
    EXPECT_EQ(j.at("per_request").at("hypercalls").get<double>(), 0.0);
}

TEST(RenderIoTable, OneRowPerDirectionWithIos) {
    const IoCounts counts = IoCounts::measure(kResult, kFrontend, kBefore, kAfter, kGuest, 0);
    const std::string text = render_io_table(kResult, counts);
    EXPECT_EQ(text,
              "Job      Dir     IOPS          BW     p50     p90     p99   p99.9     max\n"
              "pvsim.0  read   12.3k  47.9 MiB/s  38.2us  51.0us  1.00ms  1.50ms  2.50ms\n"
              "pvsim.0  write   9999   1.0 MiB/s  38.2us  51.0us  1.00ms  1.50ms  2.50ms\n"
              "pvsim.1  write  1.00M  1.50 GiB/s  38.2us  51.0us  1.00ms  1.50ms  2.50ms\n"
              "verify pvsim.0: 64 blocks checked\n"
              "verify pvsim.1: off (--verify crc32c checks each block read against what was "
              "written there)\n"
              "per request (1000 blkif requests for 500 I/Os, 10 indirect): notifications "
              "0.250 to backend, 0.125 to frontend; hypercalls 1.00; grant maps 1.00, unmaps "
              "1.00, copies 0.00 (grant ops 2.00); data copies 0.50\n");
}

TEST(RenderIoTable, MissingPercentilesShowADash) {
    const json result = {
        {"jobs", json::array({{{"jobname", "j"},
                               {"write", {{"total_ios", 4}, {"iops", 4.0}, {"bw_bytes", 0}}},
                               {"pvsim", {{"jobnum", 2}}}}})}};
    const std::string text = render_io_table(result, IoCounts{});
    EXPECT_NE(text.find("j.2"), std::string::npos) << text;
    EXPECT_NE(text.find("  -  "), std::string::npos) << text;
    EXPECT_NE(
        text.find("per request (0 blkif requests for 0 I/Os, 0 indirect): notifications 0.000"),
        std::string::npos)
        << text;
}

// A verifying job's line says what it checked, or why nothing: a block
// never written with verify is not called read-only.
TEST(RenderIoTable, AVerifyLineIsPrintedWhateverWasChecked) {
    const auto line = [](const json& own) {
        const json result = {{"jobs", json::array({{{"jobname", "j"}, {"pvsim", own}}})}};
        const std::string text = render_io_table(result, IoCounts{});
        const auto at = text.find("verify j.0: ");
        return at == std::string::npos ? text : text.substr(at, text.find('\n', at) - at);
    };
    const auto verify = [](std::uint64_t checked, std::uint64_t unwritten, bool read_back) {
        return json{{"enabled", true},
                    {"read_back", read_back},
                    {"blocks_checked", checked},
                    {"blocks_unwritten", unwritten}};
    };
    EXPECT_EQ(line({{"verify", verify(3, 1, false)}}),
              "verify j.0: 3 blocks checked; 1 block read that pvsim never wrote with verify "
              "(data not known, only the read checked)");
    EXPECT_EQ(line({{"verify", verify(0, 4, false)}}),
              "verify j.0: nothing checked: 4 blocks read that pvsim never wrote with verify "
              "(data not known, only the read checked)");
    EXPECT_EQ(line({{"verify", verify(0, 0, true)}, {"error", "write at offset 0: EIO"}}),
              "verify j.0: nothing checked: the job stopped before a block was read back");
    EXPECT_EQ(line({{"verify", verify(0, 0, false)}, {"error", "cancelled"}}),
              "verify j.0: nothing checked: the job stopped before a block was read");
    EXPECT_EQ(line({{"verify", verify(0, 0, true)}}),
              "verify j.0: nothing checked: nothing was written to read back");
    EXPECT_EQ(line({{"verify", verify(0, 0, false)}}),
              "verify j.0: nothing checked: no block was read");
}

TEST(RenderIoTable, WithoutVerifyOneLineSaysItIsOff) {
    const json job = {{"jobname", "j"}, {"pvsim", {{"verify", {{"enabled", false}}}}}};
    const std::string text = render_io_table({{"jobs", json::array({job, job})}}, IoCounts{});
    EXPECT_NE(text.find("\nverify: off (--verify crc32c checks each block read against what was "
                        "written there)\nper request"),
              std::string::npos)
        << text;
    EXPECT_EQ(text.find("verify j."), std::string::npos) << text;
}

TEST(FormatRate, Boundaries) {
    EXPECT_EQ(format_rate(0), "0");
    EXPECT_EQ(format_rate(9999), "9999");
    EXPECT_EQ(format_rate(9999.4), "9999");
    EXPECT_EQ(format_rate(9999.5), "10.0k");
    EXPECT_EQ(format_rate(10000), "10.0k");
    EXPECT_EQ(format_rate(12345), "12.3k");
    EXPECT_EQ(format_rate(999949), "999.9k");
    EXPECT_EQ(format_rate(999950), "1.00M");
    EXPECT_EQ(format_rate(1e6), "1.00M");
    EXPECT_EQ(format_rate(2.5e6), "2.50M");
}

TEST(FormatBandwidth, Boundaries) {
    constexpr double kKiB = 1024, kMiB = 1024 * kKiB, kGiB = 1024 * kMiB;
    EXPECT_EQ(format_bandwidth(0), "0.0 KiB/s");
    EXPECT_EQ(format_bandwidth(512), "0.5 KiB/s");
    EXPECT_EQ(format_bandwidth(kKiB), "1.0 KiB/s");
    EXPECT_EQ(format_bandwidth(1048524), "1023.9 KiB/s");
    EXPECT_EQ(format_bandwidth(kMiB - 1), "1.0 MiB/s");
    EXPECT_EQ(format_bandwidth(kMiB), "1.0 MiB/s");
    EXPECT_EQ(format_bandwidth(45.6 * kMiB), "45.6 MiB/s");
    EXPECT_EQ(format_bandwidth(1073689395), "1023.9 MiB/s");
    EXPECT_EQ(format_bandwidth(kGiB - 1), "1.00 GiB/s");
    EXPECT_EQ(format_bandwidth(kGiB), "1.00 GiB/s");
    EXPECT_EQ(format_bandwidth(1.5 * kGiB), "1.50 GiB/s");
}

TEST(FormatLatency, Boundaries) {
    EXPECT_EQ(format_latency(0), "0ns");
    EXPECT_EQ(format_latency(999), "999ns");
    EXPECT_EQ(format_latency(999.4), "999ns");
    EXPECT_EQ(format_latency(999.5), "1.0us");
    EXPECT_EQ(format_latency(1000), "1.0us");
    EXPECT_EQ(format_latency(38200), "38.2us");
    EXPECT_EQ(format_latency(999949), "999.9us");
    EXPECT_EQ(format_latency(999950), "1.00ms");
    EXPECT_EQ(format_latency(1e6), "1.00ms");
    EXPECT_EQ(format_latency(999994999), "999.99ms");
    EXPECT_EQ(format_latency(999995000), "1.00s");
    EXPECT_EQ(format_latency(1e9), "1.00s");
    EXPECT_EQ(format_latency(2.5e9), "2.50s");
}

}  // namespace
}  // namespace pvsim::tools::cli
