// The control socket's field checks (hypervisor/protocol/control.hpp): each
// bad field refused with a sentence that names it.
#include "hypervisor/server/control_requests.hpp"

#include <sys/stat.h>

#include <fstream>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/support/temp_dir.hpp"

namespace pvsim::hypervisor::server {
namespace {

using nlohmann::json;
using ::testing::HasSubstr;

std::string error_of(const std::function<void()>& call) {
    try {
        call();
    } catch (const ControlRequestError& e) {
        return e.what();
    }
    return "(no error)";
}

const std::string kProgram = PVSIM_TEST_PEER;

TEST(ControlRequests, CreateTakesAndChecksEveryField) {
    const CreateRequest request = parse_create({{"op", "create"},
                                                {"name", "web-1.a_b"},
                                                {"memory", "8M"},
                                                {"program", kProgram},
                                                {"args", {"a", "b"}},
                                                {"env", {{"K", "V"}}}});
    EXPECT_EQ(request.name, "web-1.a_b");
    EXPECT_EQ(request.memory_bytes, 8u << 20);
    EXPECT_EQ(request.program, kProgram);
    EXPECT_EQ(request.args, (std::vector<std::string>{"a", "b"}));
    EXPECT_EQ(request.env.at("K"), "V");
    EXPECT_EQ(parse_create({{"name", "x"}, {"program", kProgram}}).memory_bytes,
              kDefaultGuestMemory);

    EXPECT_EQ(error_of([] {
                  parse_create({{"name", "a b"}, {"program", kProgram}});
              }),
              "create: name 'a b' may contain only letters, digits, '-', '_' and '.'");
    EXPECT_THAT(error_of([] { parse_create({{"program", kProgram}}); }), HasSubstr("name"));
    EXPECT_THAT(error_of([] {
                    parse_create({{"name", ".hidden"}, {"program", kProgram}});
                }),
                HasSubstr("'.hidden'"));
    EXPECT_THAT(error_of([] {
                    parse_create({{"name", std::string(64, 'a')}, {"program", kProgram}});
                }),
                HasSubstr("longer than 63"));
    EXPECT_EQ(error_of([] {
                  parse_create({{"name", "x"}, {"program", "/x"}});
              }),
              "create: program '/x' is not an executable file");
    const test::TempDir temp;
    const std::string plain = (temp.path() / "plain").string();
    std::ofstream(plain) << "not a program\n";
    ::chmod(plain.c_str(), 0644);
    EXPECT_THAT(error_of([&] {
                    parse_create({{"name", "x"}, {"program", plain}});
                }),
                HasSubstr("not an executable file"));
    EXPECT_THAT(error_of([] {
                    parse_create({{"name", "x"}, {"program", "relative/prog"}});
                }),
                HasSubstr("absolute"));
    EXPECT_THAT(error_of([] {
                    parse_create({{"name", "x"}, {"program", "/tmp"}});
                }),
                HasSubstr("not an executable file"));
    EXPECT_THAT(error_of([] {
                    parse_create({{"name", "x"}, {"program", kProgram}, {"args", "a b"}});
                }),
                HasSubstr("args"));
    EXPECT_THAT(error_of([] {
                    parse_create({{"name", "x"}, {"program", kProgram}, {"env", {{"K", 1}}}});
                }),
                HasSubstr("env"));
    EXPECT_THAT(error_of([] {
                    parse_create({{"name", "x"}, {"program", kProgram}, {"env", {{"A=B", "1"}}}});
                }),
                HasSubstr("'A=B'"));
}

TEST(ControlRequests, MemoryIsBytesOrASizeRoundedToPages) {
    EXPECT_EQ(parse_memory("create", json(4096)), 4096u);
    EXPECT_EQ(parse_memory("create", json(4097)), 8192u);
    EXPECT_EQ(parse_memory("create", json("64M")), 64u << 20);
    EXPECT_EQ(error_of([] { parse_memory("create", json(1)); }),
              "create: memory must be at least 4096 bytes, not 1");
    EXPECT_THAT(error_of([] { parse_memory("create", json(-5)); }), HasSubstr("negative"));
    EXPECT_THAT(error_of([] { parse_memory("create", json("lots")); }), HasSubstr("lots"));
    EXPECT_THAT(error_of([] { parse_memory("create", json(true)); }), HasSubstr("memory"));
    EXPECT_THAT(error_of([] { parse_memory("create", json("1000T")); }), HasSubstr("16 TiB"));
}

TEST(ControlRequests, ASelectorIsADomidOrAName) {
    const DomainSelector by_domid = parse_selector("info", {{"domid", 3}});
    ASSERT_TRUE(by_domid.domid.has_value());
    EXPECT_EQ(*by_domid.domid, 3);
    EXPECT_EQ(by_domid.describe(), "domain 3");
    const DomainSelector by_name = parse_selector("destroy", {{"name", "web"}});
    EXPECT_FALSE(by_name.domid.has_value());
    EXPECT_EQ(by_name.describe(), "domain 'web'");
    EXPECT_THAT(error_of([] { parse_selector("info", {{"domid", -1}}); }), HasSubstr("-1"));
    EXPECT_THAT(error_of([] { parse_selector("info", {{"domid", 40000}}); }), HasSubstr("40000"));
    EXPECT_THAT(error_of([] { parse_selector("info", {{"name", 5}}); }), HasSubstr("name"));
    EXPECT_EQ(error_of([] { parse_selector("info", json::object()); }),
              "info: give \"domid\" or \"name\"");
}

}  // namespace
}  // namespace pvsim::hypervisor::server
