// The CLI11 validators (tools/cli/validators.hpp): good text passes (an
// empty message), bad text gets the parser's own message.
#include <gtest/gtest.h>

#include <string>

#include "common/units.hpp"
#include "common/xen/vbd_interface.hpp"
#include "tools/cli/validators.hpp"
#include "tools/toolstack/disk_spec.hpp"

namespace pvsim::tools::cli {
namespace {

// CLI::Validator's verdict on `text`: "" when it passes.
std::string verdict(const CLI::Validator& validator, std::string text) {
    return validator(text);
}

// The message `parse` throws for `text`.
template <typename Parse>
std::string parser_message(Parse parse, const std::string& text) {
    try {
        (void)parse(text);
    } catch (const ParseError& e) {
        return e.what();
    }
    ADD_FAILURE() << "the parser accepted \"" << text << "\"";
    return {};
}

TEST(Validators, Size) {
    for (const char* good : {"4096", "4k", "4KiB", "64M", "1g", "512B"}) {
        EXPECT_EQ(verdict(size_validator(), good), "") << good;
    }
    for (const char* bad : {"", "4q", "-1", "1.5k", "12Q"}) {
        const std::string message = verdict(size_validator(), bad);
        EXPECT_EQ(message, parser_message([](const std::string& t) { return parse_size(t); }, bad));
        EXPECT_NE(message.find(std::string("\"") + bad + "\""), std::string::npos) << message;
    }
}

TEST(Validators, Duration) {
    for (const char* good : {"10", "500ms", "2m", "1h", "30s", "250us"}) {
        EXPECT_EQ(verdict(duration_validator(), good), "") << good;
    }
    for (const char* bad : {"", "soon", "5 parsecs", "-3s"}) {
        const std::string message = verdict(duration_validator(), bad);
        EXPECT_EQ(message,
                  parser_message([](const std::string& t) { return parse_duration(t); }, bad));
        EXPECT_FALSE(message.empty()) << bad;
    }
}

TEST(Validators, DiskSpec) {
    for (const char* good : {"target=/a.img,vdev=xvda", "/a.img,raw,xvdb,ro",
                             "vdev=xvdc,target=/with,comma.img", "/a.iso,,hdc,cdrom"}) {
        EXPECT_EQ(verdict(disk_spec_validator(), good), "") << good;
    }
    for (const char* bad : {"foo=1", "target=/a.img", "target=/a.img,vdev=xvda,queues=99",
                            "target=/a.img,vdev=xvda,format=qcow2"}) {
        // The parser names DISKSPEC; the validator leaves that to CLI11,
        // which names the argument before the message.
        const std::string message = verdict(disk_spec_validator(), bad);
        EXPECT_EQ("DISKSPEC: " + message,
                  parser_message([](const std::string& t) { return toolstack::parse_disk_spec(t); },
                                 bad));
        EXPECT_EQ(message.find("DISKSPEC"), std::string::npos) << message;
    }
}

TEST(Validators, Vdev) {
    // vbd names, and virtio disk names (vda).
    for (const char* good : {"xvda", "xvdb3", "hdc", "sda1", "51712", "d1p2", "vda", "vdab"}) {
        EXPECT_EQ(verdict(vdev_validator(), good), "") << good;
    }
    for (const char* bad : {"", "xvd", "vda1", "xvdA"}) {
        const std::string message = verdict(vdev_validator(), bad);
        EXPECT_EQ(message,
                  parser_message([](const std::string& t) { return xen::vdev_number(t); }, bad));
    }
}

TEST(Validators, XenbusState) {
    for (const char* good : {"0", "4", "8", "Connected", "initwait", "CLOSED", "Reconfiguring"}) {
        EXPECT_EQ(verdict(xenbus_state_validator(), good), "") << good;
    }
    for (const char* bad : {"Bogus", "9", "-1", "", "Connected2"}) {
        const std::string message = verdict(xenbus_state_validator(), bad);
        EXPECT_NE(message.find(std::string("state \"") + bad + "\""), std::string::npos) << message;
        EXPECT_NE(message.find("Initialising"), std::string::npos) << message;
    }
}

}  // namespace
}  // namespace pvsim::tools::cli
