// The guest program for real: pvsim-hypervisor, pvsim-xenstored and
// pvsim-backend (blkback's fixture), a guest created through the control
// socket running pvsim-guest, introduced to xenstored as libxl does, vbds
// attached with the toolstack (tools/toolstack/vbd) on sparse image files,
// and the test talking JSON to the guest's agent socket as the CLI does.
#pragma once

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "hypervisor/client/control_client.hpp"
#include "tests/integration/guest/agent_client.hpp"
#include "tests/support/blkback_fixture.hpp"
#include "tests/support/daemon_process.hpp"
#include "tools/toolstack/vbd.hpp"

namespace pvsim::test {

inline constexpr std::uint32_t kXvda = 51712;  // vbd-interface.txt: xvda
inline constexpr std::uint64_t kImageBytes = 64ull << 20;

class GuestFixture : public BlkbackFixture {
  protected:
    // A guest running pvsim-guest, once its agent accepts connections.
    xen::DomId create_guest(const std::string& name, std::uint64_t memory = 64ull << 20) {
        hypervisor::CreateDomain request;
        request.name = name;
        request.memory_bytes = memory;
        request.program = PVSIM_GUEST;
        request.args = {"--log-level", "debug"};
        const xen::DomId domid = hv_.control().create(request).domid;
        const bool listening = eventually([&] {
            try {
                AgentClient probe(agent_socket(domid));
                return true;
            } catch (const std::exception&) {
                return false;
            }
        });
        if (!listening) {
            throw std::runtime_error("pvsim-guest of domain " + std::to_string(domid) +
                                     " does not listen; its log:\n" + guest_log(domid));
        }
        return domid;
    }

    // libxl's part for a new domain: its home readable by it, XS_INTRODUCE.
    void introduce_guest(xen::DomId domid) {
        const auto info = hv_.control().info(domid);
        const std::string home = "/local/domain/" + std::to_string(domid);
        dom0_.mkdir(home);
        dom0_.set_perms(home, {{xen::xs::Access::none, 0}, {xen::xs::Access::read, domid}});
        dom0_.introduce(domid, info.at("store_gfn").get<std::uint64_t>(),
                        info.at("store_port").get<xen::EvtchnPort>());
    }

    // create_guest, introduce_guest, and an image attached as xvda.
    struct AttachedGuest {
        xen::DomId domid = 0;
        std::filesystem::path image;
        tools::toolstack::VbdPaths paths;
    };
    AttachedGuest guest_with_disk(const std::string& name) {
        AttachedGuest guest;
        guest.domid = create_guest(name);
        introduce_guest(guest.domid);
        guest.image = make_image(name + ".img", kImageBytes);
        guest.paths = tools::toolstack::attach_vbd(dom0_, spec(guest.domid, "xvda", guest.image));
        return guest;
    }

    std::filesystem::path agent_socket(xen::DomId domid) const {
        return hv_.run_dir().guest_agent_socket(domid);
    }
    AgentClient agent(xen::DomId domid) const { return AgentClient(agent_socket(domid)); }

    std::string guest_log(xen::DomId domid) const {
        return read_file(hv_.run_dir().log_file("pvsim-guest.dom" + std::to_string(domid)));
    }
    std::string hypervisor_log() const {
        return read_file(hv_.run_dir().log_file("pvsim-hypervisor"));
    }

    // wait-device, which must succeed: the DEVICE object.
    nlohmann::json wait_device(AgentClient& client, xen::DomId domid, std::uint32_t devid) {
        const nlohmann::json reply =
            client.request({{"op", "wait-device"}, {"devid", devid}, {"timeout_ms", 20000}});
        EXPECT_EQ(reply.value("ok", false), true) << reply.dump() << "\n" << guest_log(domid);
        return reply.value("device", nlohmann::json::object());
    }

    // An io request: its final reply, and the progress lines before it.
    struct IoReply {
        nlohmann::json reply;
        std::vector<nlohmann::json> progress;
    };
    IoReply io(AgentClient& client, std::uint32_t devid, const nlohmann::json& job,
               unsigned progress_ms = 0) {
        client.send({{"op", "io"}, {"devid", devid}, {"job", job}, {"progress_ms", progress_ms}});
        IoReply out;
        for (;;) {
            auto line = client.read();
            if (!line) {
                throw std::runtime_error("the agent closed the connection during io");
            }
            if (line->contains("progress")) {
                out.progress.push_back(std::move(*line));
                continue;
            }
            out.reply = std::move(*line);
            return out;
        }
    }
    // An io that must pass: its reply.
    nlohmann::json io_ok(AgentClient& client, xen::DomId domid, std::uint32_t devid,
                         const nlohmann::json& job) {
        IoReply out = io(client, devid, job);
        EXPECT_EQ(out.reply.value("ok", false), true) << out.reply.dump() << "\n"
                                                      << guest_log(domid);
        return out.reply;
    }

    // `count` bytes of `file` at `offset`.
    static std::vector<std::uint8_t> read_bytes(const std::filesystem::path& file,
                                                std::uint64_t offset, std::size_t count) {
        std::vector<std::uint8_t> bytes(count);
        const int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
            throw std::runtime_error("open " + file.string());
        }
        const ssize_t got = ::pread(fd, bytes.data(), count, static_cast<off_t>(offset));
        ::close(fd);
        if (got != static_cast<ssize_t>(count)) {
            throw std::runtime_error("short read of " + file.string());
        }
        return bytes;
    }
    static void write_bytes(const std::filesystem::path& file, std::uint64_t offset,
                            const std::vector<std::uint8_t>& bytes) {
        const int fd = ::open(file.c_str(), O_WRONLY | O_CLOEXEC);
        ASSERT_GE(fd, 0);
        EXPECT_EQ(::pwrite(fd, bytes.data(), bytes.size(), static_cast<off_t>(offset)),
                  static_cast<ssize_t>(bytes.size()));
        ::close(fd);
    }

    static std::string read_file(const std::filesystem::path& path) {
        std::ifstream in(path);
        return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    }
};

}  // namespace pvsim::test
