// A guest SIGKILLed in the middle of a write workload at queue depth 32,
// with persistent grants on, off, and in grant copy mode: xenstored forgets the dead domain and
// removes its nodes (C xenstored's domain_cleanup), blkback sees its frontend gone (Linux's
// frontend_changed, XenbusStateUnknown), lets its in-flight I/O finish,
// unmaps every grant and closes its event channels, and the hypervisor then
// frees the domain's memory. The test counts what is left against what was
// there before the guest was created: pvsim-backend's open fds
// (/proc/PID/fd) and mappings (/proc/PID/maps), the run's objects in
// /dev/shm, and dom0's live grant mappings and event channels as the
// hypervisor lists them. The backend then serves another guest.
#include <signal.h>
#include <sys/types.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "common/os/shared_memory.hpp"
#include "tests/integration/guest/guest_fixture.hpp"
#include "tools/toolstack/domain.hpp"

namespace pvsim::test {
// This file's own names, apart from those of the other files of its folder,
// which compiles as one translation unit.
namespace guest_kill_test {

using nlohmann::json;

constexpr std::uint64_t kBlock = 4096;
constexpr auto kCleanupLimit = std::chrono::seconds(15);

// How blkback reaches the guest's data pages.
struct GrantCase {
    const char* name;
    std::optional<bool> persistent;  // backend's pvsim-feature-persistent
    std::optional<xen::BlkifGrantMode> grant_mode;
    const char* negotiated_persistent;  // the backend's feature-persistent
};

const GrantCase kCases[] = {
    {"PersistentGrants", true, std::nullopt, "1"},
    {"MappedGrants", false, std::nullopt, "0"},
    {"GrantCopy", std::nullopt, xen::BlkifGrantMode::copy, "0"},
};

std::string read_text(const std::filesystem::path& path) {
    std::ifstream in(path);
    std::ostringstream out;
    out << in.rdbuf();
    return out.str();
}

std::string joined(const std::multiset<std::string>& items) {
    std::string out;
    for (const std::string& item : items) {
        out += "  " + item + "\n";
    }
    return out;
}

// What is not in `before` (counting repeats).
std::multiset<std::string> added(const std::multiset<std::string>& before,
                                 const std::multiset<std::string>& after) {
    std::multiset<std::string> out;
    std::set_difference(after.begin(), after.end(), before.begin(), before.end(),
                        std::inserter(out, out.end()));
    return out;
}

// What a process and the run hold, for comparing before and after.
struct Holdings {
    std::multiset<std::string> backend_fds;  // readlink of /proc/PID/fd/*
    std::vector<std::string> backend_maps;   // /proc/PID/maps lines of the run's shm
    std::multiset<std::string> shm;          // the run's objects in /dev/shm
    std::uint64_t dom0_maps = 0;             // the hypervisor's live maptrack count
    std::uint64_t dom0_ports = 0;            // dom0's event channels in use
    std::vector<xen::DomId> domains;         // every domain listed

    bool lists(xen::DomId domid) const {
        return std::find(domains.begin(), domains.end(), domid) != domains.end();
    }
    // The backend's mappings of domain `domid`'s objects.
    std::vector<std::string> maps_of(const std::string& shm_tag, xen::DomId domid) const {
        const std::string object =
            std::string(os::kShmNamePrefix) + shm_tag + ".dom" + std::to_string(domid) + ".";
        std::vector<std::string> out;
        for (const std::string& line : backend_maps) {
            if (line.find(object) != std::string::npos) {
                out.push_back(line);
            }
        }
        return out;
    }
    std::string describe() const {
        std::string out = "backend fds (" + std::to_string(backend_fds.size()) + "):\n" +
                          joined(backend_fds) + "run's shm objects:\n" + joined(shm) +
                          "dom0 maps " + std::to_string(dom0_maps) + ", ports " +
                          std::to_string(dom0_ports) + "; domains:";
        for (const xen::DomId domid : domains) {
            out += " " + std::to_string(domid);
        }
        return out + "\n";
    }
};

class GuestKillTest : public GuestFixture, public ::testing::WithParamInterface<GrantCase> {
  protected:
    Holdings holdings() {
        Holdings out;
        const std::filesystem::path proc = "/proc/" + std::to_string(backend_->pid());
        std::error_code ec;
        for (const auto& entry : std::filesystem::directory_iterator(proc / "fd", ec)) {
            std::error_code gone;
            const auto target = std::filesystem::read_symlink(entry.path(), gone);
            // An fd closed between the listing and the readlink is not held.
            // The maptrack the hypervisor shares with the backend's
            // connection from its first grant map on is the backend's own
            // (its gntdev file, in Linux terms), not any guest's.
            const std::string own_maptrack = "/memfd:" + hv_.run_dir().shm_tag() + ".dom0.maptrack";
            if (!gone && target.string().rfind(own_maptrack, 0) != 0) {
                out.backend_fds.insert(target.string());
            }
        }
        EXPECT_FALSE(ec) << "listing " << (proc / "fd") << ": " << ec.message();
        const std::string prefix = std::string(os::kShmNamePrefix) + hv_.run_dir().shm_tag() + ".";
        std::istringstream maps(read_text(proc / "maps"));
        for (std::string line; std::getline(maps, line);) {
            if (line.find(prefix) != std::string::npos) {
                out.backend_maps.push_back(line);
            }
        }
        for (const auto& entry : std::filesystem::directory_iterator("/dev/shm")) {
            const std::string name = entry.path().filename().string();
            if (name.rfind(prefix, 0) == 0) {
                out.shm.insert(name);
            }
        }
        for (const json& domain : hv_.control().list()) {
            const auto domid = domain.at("domid").get<xen::DomId>();
            out.domains.push_back(domid);
            if (domid == 0) {
                out.dom0_maps = domain.at("maps").get<std::uint64_t>();
                out.dom0_ports = domain.at("ports").get<std::uint64_t>();
            }
        }
        return out;
    }

    // Holdings as soon as `done` accepts them, or the last ones seen after
    // kCleanupLimit.
    Holdings settle(const std::function<bool(const Holdings&)>& done) {
        const auto deadline = std::chrono::steady_clock::now() + kCleanupLimit;
        for (;;) {
            Holdings now = holdings();
            if (done(now) || std::chrono::steady_clock::now() > deadline) {
                return now;
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(50));
        }
    }

    AttachedGuest guest_for(const std::string& name, const GrantCase& grants) {
        AttachedGuest guest;
        guest.domid = create_guest(name);
        introduce_guest(guest.domid);
        auto vbd = spec(guest.domid, "xvda", make_image(name + ".img", kImageBytes));
        vbd.backend_features.persistent = grants.persistent;
        vbd.backend_features.grant_mode = grants.grant_mode;
        guest.image = vbd.target;
        guest.paths = tools::toolstack::attach_vbd(dom0_, vbd);
        return guest;
    }

    // A verified write of `bytes` on a freshly attached guest's xvda.
    void expect_serves(const std::string& name, std::uint64_t bytes) {
        const AttachedGuest guest = guest_for(name, GetParam());
        AgentClient client = agent(guest.domid);
        wait_device(client, guest.domid, kXvda);
        const json job = {{"name", "after"}, {"rw", "randwrite"}, {"bs", kBlock},  {"iodepth", 32},
                          {"size", bytes},   {"seed", 7},         {"verify", true}};
        const json reply = io_ok(client, guest.domid, kXvda, job);
        ASSERT_EQ(reply.value("ok", false), true);
        const json& result = reply.at("result").at("jobs").at(0);
        EXPECT_EQ(result.value("error", 1), 0) << reply.dump();
        EXPECT_EQ(result.at("pvsim").at("verify").value("blocks_checked", 0u), bytes / kBlock)
            << reply.dump();
        EXPECT_EQ(result.at("pvsim").at("verify").value("blocks_unwritten", 1u), 0u)
            << reply.dump();
        tools::toolstack::detach_vbd(dom0_, guest.paths);
    }
};

TEST_P(GuestKillTest, SigkilledMidIoLeavesNothingBehind) {
    const GrantCase& grants = GetParam();
    const Holdings before = holdings();
    ASSERT_FALSE(before.backend_fds.empty());
    ASSERT_FALSE(before.shm.empty()) << "dom0's objects should be listed";

    const AttachedGuest guest = guest_for("victim", grants);
    const xen::DomId domid = guest.domid;
    AgentClient client = agent(domid);
    wait_device(client, domid, kXvda);
    EXPECT_EQ(read(guest.paths.backend + "/feature-persistent"), grants.negotiated_persistent);

    // randwrite at depth 32, time based so that it is running when killed.
    const json job = {{"name", "victim"},    {"rw", "randwrite"},
                      {"bs", kBlock},        {"iodepth", 32},
                      {"size", 48ull << 20}, {"seed", 0xdead},
                      {"verify", true},      {"runtime_ns", 60'000'000'000ull}};
    AgentClient runner = agent(domid);
    runner.send({{"op", "io"}, {"devid", kXvda}, {"job", job}, {"progress_ms", 20}});
    // Under way: writes completing, and more than the first ones.
    std::uint64_t progress_lines = 0;
    while (progress_lines < 5) {
        const auto line = runner.read(std::chrono::seconds(20));
        ASSERT_TRUE(line) << guest_log(domid);
        ASSERT_TRUE(line->contains("progress")) << line->dump();
        ++progress_lines;
    }

    // What the guest holds in dom0 while it runs: its ring (and, unless in
    // copy mode, data pages) mapped by the backend, an event channel bound
    // per queue, its memory fd, the image and the queues' I/O engines open.
    const Holdings during = holdings();
    EXPECT_FALSE(during.maps_of(hv_.run_dir().shm_tag(), domid).empty()) << during.describe();
    EXPECT_GT(during.dom0_maps, before.dom0_maps) << during.describe();
    EXPECT_GT(during.dom0_ports, before.dom0_ports) << during.describe();
    EXPECT_GT(during.backend_fds.size(), before.backend_fds.size()) << during.describe();
    EXPECT_FALSE(added(before.shm, during.shm).empty()) << during.describe();

    // Killed with requests on the ring: blkfront has some it has not seen
    // answered (at depth 32 it almost always has; asked again if not).
    const auto pid = hv_.control().info(domid).at("pid").get<pid_t>();
    ASSERT_GT(pid, 0);
    std::uint64_t in_flight = 0;
    for (int attempt = 0; attempt < 100 && in_flight == 0; ++attempt) {
        const json reply = client.request({{"op", "devices"}});
        ASSERT_EQ(reply.value("ok", false), true) << reply.dump();
        in_flight = reply.at("devices").at(0).value("in_flight", std::uint64_t{0});
    }
    ASSERT_EQ(::kill(pid, SIGKILL), 0) << std::strerror(errno);
    EXPECT_GT(in_flight, 0u) << "no request was in flight when the guest was killed";
    // The agent's connection ends with its process.
    for (;;) {
        const auto line = runner.read(std::chrono::seconds(20));
        if (!line) {
            break;
        }
        ASSERT_TRUE(line->contains("progress")) << "a reply from a killed guest: " << line->dump();
    }

    const Holdings after = settle([&](const Holdings& now) {
        return !now.lists(domid) && now.backend_fds == before.backend_fds &&
               now.backend_maps == before.backend_maps && now.shm == before.shm &&
               now.dom0_maps == before.dom0_maps && now.dom0_ports == before.dom0_ports;
    });
    const std::string context = "before:\n" + before.describe() + "after:\n" + after.describe() +
                                "backend log:\n" + backend_->log() + "hypervisor log:\n" +
                                hypervisor_log();
    // The hypervisor freed the domain (it stays dying while mapped).
    EXPECT_FALSE(after.lists(domid)) << context;
    EXPECT_THROW(hv_.control().info(domid), hypervisor::ControlError);
    // Nothing of it in the backend: fds, mappings; the vbd released.
    EXPECT_EQ(after.backend_fds.size(), before.backend_fds.size()) << context;
    EXPECT_EQ(added(before.backend_fds, after.backend_fds), std::multiset<std::string>{})
        << context;
    EXPECT_EQ(after.maps_of(hv_.run_dir().shm_tag(), domid), std::vector<std::string>{}) << context;
    EXPECT_EQ(after.backend_maps, before.backend_maps) << context;
    for (const std::string& fd : after.backend_fds) {
        EXPECT_EQ(fd.find(guest.image.filename().string()), std::string::npos)
            << "the image is still open: " << fd;
    }
    EXPECT_NE(backend_->log().find(guest.paths.backend + ": released " + guest.image.string()),
              std::string::npos)
        << context;
    // Its objects gone from /dev/shm, nothing else of the run new there.
    EXPECT_EQ(after.shm, before.shm) << context;
    // dom0's grant mappings and event channels back where they were: the
    // backend's ones for this guest unmapped and closed.
    EXPECT_EQ(after.dom0_maps, before.dom0_maps) << context;
    EXPECT_EQ(after.dom0_ports, before.dom0_ports) << context;
    // xenstored forgot the guest: its frontend directory is gone, which is
    // what blkback saw.
    EXPECT_EQ(read(guest.paths.frontend + "/state"), "<none>");
    EXPECT_TRUE(backend_->alive());

    // The toolstack's part for a dead guest (libxl__devices_destroy): the
    // backend directory removed; then a new guest is served.
    tools::toolstack::destroy_vbd(dom0_, guest.paths);
    tools::toolstack::forget_domain(dom0_, domid);
    EXPECT_EQ(read(guest.paths.backend + "/state"), "<none>");
    expect_serves("survivor", 8ull << 20);
    EXPECT_TRUE(backend_->alive());
}

INSTANTIATE_TEST_SUITE_P(GrantModes, GuestKillTest, ::testing::ValuesIn(kCases),
                         [](const ::testing::TestParamInfo<GrantCase>& each) {
                             return std::string(each.param.name);
                         });

}  // namespace guest_kill_test
}  // namespace pvsim::test
