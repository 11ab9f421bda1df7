// XS_READ, XS_WRITE, XS_MKDIR, XS_RM, XS_DIRECTORY, XS_DIRECTORY_PART,
// XS_GET_PERMS and XS_SET_PERMS as C xenstored answers them.
#include "store_fixture.hpp"

namespace pvsim::xenstore::store::test {
namespace {

using NodeRequests = StoreTest;

TEST_F(NodeRequests, InitialTreeIsCXenstoredsWithLocalDomain) {
    EXPECT_EQ(request(kDom0, MessageType::directory, "/\0"s).payload, "local\0tool\0"s);
    EXPECT_EQ(request(kDom0, MessageType::directory, "/local\0"s).payload, "domain\0"s);
    EXPECT_EQ(request(kDom0, MessageType::directory, "/local/domain\0"s).payload, "");
    EXPECT_EQ(request(kDom0, MessageType::directory, "/tool\0"s).payload, "xenstored\0"s);
    EXPECT_EQ(read(kDom0, "/tool/xenstored"), "");
    for (const char* path : {"/", "/local", "/local/domain", "/tool", "/tool/xenstored",
                             "@introduceDomain", "@releaseDomain"}) {
        const Reply reply = request(kDom0, MessageType::get_perms, arg(path));
        EXPECT_EQ(reply.type, MessageType::get_perms) << path;
        EXPECT_EQ(reply.payload, "n0\0"s) << path;
    }
}

TEST_F(NodeRequests, WriteCreatesMissingParentsAndReadReturnsTheValue) {
    const Reply reply = request(kDom0, MessageType::write, "/a/b/c\0hello"s);
    EXPECT_EQ(reply.type, MessageType::write);
    EXPECT_EQ(reply.payload, "OK\0"s);
    EXPECT_EQ(read(kDom0, "/a/b/c"), "hello");
    EXPECT_EQ(read(kDom0, "/a/b"), "");
    EXPECT_EQ(request(kDom0, MessageType::directory, "/\0"s).payload, "local\0tool\0a\0"s);
    EXPECT_EQ(request(kDom0, MessageType::directory, "/a\0"s).payload, "b\0"s);
    write(kDom0, "/a/b/c", "again");
    EXPECT_EQ(read(kDom0, "/a/b/c"), "again");
}

TEST_F(NodeRequests, ValuesAreBytesNotStrings) {
    write(kDom0, "/bin", "x\0y\0"s);
    EXPECT_EQ(read(kDom0, "/bin"), "x\0y\0"s);
    write(kDom0, "/empty", "");
    EXPECT_EQ(read(kDom0, "/empty"), "");
}

TEST_F(NodeRequests, ReadOfAMissingNodeIsEnoent) {
    EXPECT_EQ(request(kDom0, MessageType::read, "/nope\0"s).error(), "ENOENT");
    EXPECT_EQ(request(kDom0, MessageType::directory, "/nope\0"s).error(), "ENOENT");
    EXPECT_EQ(request(kDom0, MessageType::get_perms, "/nope/deeper\0"s).error(), "ENOENT");
}

TEST_F(NodeRequests, MkdirCreatesOnceAndKeepsAnExistingValue) {
    EXPECT_TRUE(request(kDom0, MessageType::mkdir, "/d/e\0"s).is_ok());
    EXPECT_EQ(read(kDom0, "/d/e"), "");
    write(kDom0, "/d/e", "kept");
    EXPECT_TRUE(request(kDom0, MessageType::mkdir, "/d/e\0"s).is_ok());
    EXPECT_EQ(read(kDom0, "/d/e"), "kept");
}

TEST_F(NodeRequests, RmRemovesTheSubtreeAndTheParentsEntry) {
    write(kDom0, "/r/a/b", "1");
    write(kDom0, "/r/a/c", "2");
    write(kDom0, "/r/z", "3");
    EXPECT_TRUE(request(kDom0, MessageType::rm, "/r/a\0"s).is_ok());
    EXPECT_EQ(request(kDom0, MessageType::read, "/r/a/b\0"s).error(), "ENOENT");
    EXPECT_EQ(request(kDom0, MessageType::read, "/r/a\0"s).error(), "ENOENT");
    EXPECT_EQ(request(kDom0, MessageType::directory, "/r\0"s).payload, "z\0"s);
    // A missing node whose parent exists: fine. Parent missing too: ENOENT.
    EXPECT_TRUE(request(kDom0, MessageType::rm, "/r/a\0"s).is_ok());
    EXPECT_EQ(request(kDom0, MessageType::rm, "/r/a/b\0"s).error(), "ENOENT");
    EXPECT_EQ(request(kDom0, MessageType::rm, "/\0"s).error(), "EINVAL");
    EXPECT_EQ(request(kDom0, MessageType::directory, "/\0"s).payload, "local\0tool\0r\0"s);
}

TEST_F(NodeRequests, RecreatedNodeStartsEmpty) {
    write(kDom0, "/n/child", "v");
    EXPECT_TRUE(request(kDom0, MessageType::rm, "/n\0"s).is_ok());
    EXPECT_TRUE(request(kDom0, MessageType::mkdir, "/n\0"s).is_ok());
    EXPECT_EQ(request(kDom0, MessageType::directory, "/n\0"s).payload, "");
}

// Children in creation order, 200 names of 30 characters: 6200 bytes.
class BigDirectory : public StoreTest {
  protected:
    void SetUp() override {
        for (int i = 0; i < 200; ++i) {
            std::string name = "child-" + std::to_string(1000 + i);
            name.resize(30, 'x');
            EXPECT_TRUE(request(kDom0, MessageType::mkdir, arg("/big/" + name)).is_ok());
            expected_ += name + '\0';
        }
    }

    // libxenstore's xs_directory_part() loop: the list from its parts, each
    // starting with the same generation.
    std::string read_in_parts(int* parts) {
        std::string strings;
        std::string generation;
        *parts = 0;
        while (true) {
            const Reply reply = request(kDom0, MessageType::directory_part,
                                        "/big\0"s + std::to_string(strings.size()) + '\0');
            EXPECT_EQ(reply.type, MessageType::directory_part) << reply.error();
            EXPECT_LE(reply.payload.size(), xs::kPayloadMax);
            ++*parts;
            const std::string part_generation = reply.payload.substr(0, reply.payload.find('\0'));
            if (generation.empty()) {
                generation = part_generation;
            }
            EXPECT_EQ(part_generation, generation);
            strings += reply.payload.substr(part_generation.size() + 1);
            if (strings.size() <= 1 || strings[strings.size() - 2] == '\0') {
                break;
            }
        }
        return strings;
    }

    std::string expected_;
};

TEST_F(BigDirectory, DirectoryOverThePayloadLimitIsE2big) {
    EXPECT_EQ(request(kDom0, MessageType::directory, "/big\0"s).error(), "E2BIG");
}

TEST_F(BigDirectory, DirectoryPartPagesThroughTheList) {
    int parts = 0;
    const std::string strings = read_in_parts(&parts);
    EXPECT_EQ(parts, 2);
    EXPECT_EQ(strings, expected_ + '\0');
}

TEST_F(NodeRequests, DirectoryPartOfASmallListAndPastTheEnd) {
    write(kDom0, "/s/a", "");
    write(kDom0, "/s/bb", "");
    const Reply whole = request(kDom0, MessageType::directory_part, nul_args({"/s", "0"}));
    const std::string generation = whole.payload.substr(0, whole.payload.find('\0'));
    EXPECT_FALSE(generation.empty());
    EXPECT_EQ(whole.payload, generation + "\0a\0bb\0\0"s);
    const Reply rest = request(kDom0, MessageType::directory_part, nul_args({"/s", "2"}));
    EXPECT_EQ(rest.payload, generation + "\0bb\0\0"s);
    const Reply past = request(kDom0, MessageType::directory_part, nul_args({"/s", "99"}));
    EXPECT_EQ(past.payload, generation + "\0\0"s);
    // The generation moves when the list changes.
    write(kDom0, "/s/c", "");
    const Reply after = request(kDom0, MessageType::directory_part, nul_args({"/s", "0"}));
    EXPECT_NE(after.payload.substr(0, after.payload.find('\0')), generation);
}

TEST_F(NodeRequests, SetPermsReplacesTheListAndGetPermsReturnsIt) {
    write(kDom0, "/p", "v");
    set_perms(kDom0, "/p", "b1\0r2\0w3\0"s);
    EXPECT_EQ(request(kDom0, MessageType::get_perms, "/p\0"s).payload, "b1\0r2\0w3\0"s);
    // Special nodes take permissions too.
    set_perms(kDom0, "@releaseDomain", "n0\0r5\0"s);
    EXPECT_EQ(request(kDom0, MessageType::get_perms, "@releaseDomain\0"s).payload, "n0\0r5\0"s);
    EXPECT_EQ(request(kDom0, MessageType::set_perms, "/missing\0r0\0"s).error(), "ENOENT");
}

TEST_F(NodeRequests, RelativePathsResolveUnderTheCallersDomainPath) {
    write(kDom0, "name", "dom0");
    EXPECT_EQ(read(kDom0, "/local/domain/0/name"), "dom0");
    const ConnectionId guest = add_guest(3);
    write(guest, "data/x", "guest");
    EXPECT_EQ(read(kDom0, "/local/domain/3/data/x"), "guest");
    EXPECT_EQ(read(guest, "data/x"), "guest");
    EXPECT_EQ(request(guest, MessageType::directory, "data\0"s).payload, "x\0"s);
}

TEST_F(NodeRequests, InvalidPathsAreEinval) {
    for (const std::string& bad :
         {"/a/"s, "/a//b"s, "//"s, "/a b"s, "/a.b"s, "/a\xc3\xa9"s, ""s, "@foo"s, "/a\tb"s}) {
        EXPECT_EQ(request(kDom0, MessageType::read, arg(bad)).error(), "EINVAL") << bad;
        EXPECT_EQ(request(kDom0, MessageType::write, bad + '\0' + "v").error(), "EINVAL") << bad;
        EXPECT_EQ(request(kDom0, MessageType::mkdir, arg(bad)).error(), "EINVAL") << bad;
        EXPECT_EQ(request(kDom0, MessageType::rm, arg(bad)).error(), "EINVAL") << bad;
    }
    // Allowed characters: alphanumerics and "-/_@".
    write(kDom0, "/Az09-_@", "ok");
    EXPECT_EQ(read(kDom0, "/Az09-_@"), "ok");
}

// is_valid_nodename(): kRelPathMax characters at most, not counting a
// leading "/local/domain/<domid>/", and kAbsPathMax in all.
TEST_F(NodeRequests, PathLengthLimits) {
    quotas_.node_size = 4096;
    const std::string longest = "/" + std::string(xs::kRelPathMax - 1, 'a');
    write(kDom0, longest, "v");
    EXPECT_EQ(read(kDom0, longest), "v");
    EXPECT_EQ(request(kDom0, MessageType::write, longest + "b\0v"s).error(), "EINVAL");
    const std::string home = "/local/domain/1/";
    write(kDom0, home + std::string(xs::kRelPathMax, 'r'), "v");
    EXPECT_EQ(
        request(kDom0, MessageType::write, home + std::string(xs::kRelPathMax + 1, 'r') + "\0v"s)
            .error(),
        "EINVAL");
    // A guest's relative path counts the same (node_size above: a child name
    // that long would not fit the default quota for its parent).
    const ConnectionId guest = add_guest(2);
    write(guest, std::string(xs::kRelPathMax, 'g'), "v");
    EXPECT_EQ(
        request(guest, MessageType::write, std::string(xs::kRelPathMax + 1, 'g') + "\0v"s).error(),
        "EINVAL");
}

}  // namespace
}  // namespace pvsim::xenstore::store::test
