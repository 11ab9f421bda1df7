// The sharing check at attach (tools/toolstack/disk_sharing.hpp, after Xen
// 4.17's block script check_sharing): an image attached writable is refused
// to every other disk, Xen or virtio, of any guest, whatever path names it;
// read-only disks share; access=w! (the script's `!` mode) shares writable
// on purpose. A refused attach writes nothing and names the holder.
#include <gtest/gtest.h>

#include <filesystem>
#include <string>

#include "tests/integration/cli/cli_run.hpp"

namespace pvsim::test {
namespace disk_sharing_test {

class CliDiskSharingTest : public ::testing::Test {
  protected:
    void SetUp() override {
        ASSERT_EQ(run_.pvsim({"up"}).code, 0);
        ASSERT_EQ(run_.pvsim({"create", "g"}).code, 0);
        image_ = run_.image("disk.img", 8 << 20);
    }

    CliResult attach(const std::string& domain, const std::string& rest,
                     const std::filesystem::path& target) {
        return run_.pvsim({"block-attach", domain, "target=" + target.string() + "," + rest});
    }

    void attached(const std::string& domain, const std::string& rest) {
        const CliResult result = attach(domain, rest, image_);
        ASSERT_EQ(result.code, 0) << rest << ": " << result.err;
    }

    // Refused with exit 1, the message naming the holder, and the domain's
    // disks as they were.
    void refused(const std::string& domain, const std::string& rest,
                 const std::filesystem::path& target, const std::string& holder) {
        const nlohmann::json before = disks(domain);
        const CliResult result = attach(domain, rest, target);
        EXPECT_EQ(result.code, 1) << rest << ": " << result.out;
        EXPECT_NE(result.err.find(target.string() + " is attached " + holder +
                                  ", and so cannot be attached"),
                  std::string::npos)
            << rest << ": " << result.err;
        EXPECT_EQ(disks(domain), before) << rest;
    }

    nlohmann::json disks(const std::string& domain) {
        const CliResult list = run_.pvsim({"block-list", domain, "--json"});
        EXPECT_EQ(list.code, 0) << list.err;
        return list.json();
    }

    CliRun run_;
    std::filesystem::path image_;
};

TEST_F(CliDiskSharingTest, AWritableImageIsRefusedToEveryOtherDiskAndFreedByItsDetach) {
    attached("g", "vdev=xvda");
    ASSERT_EQ(run_.pvsim({"create", "h"}).code, 0);
    // Another name for the same file does not hide it.
    const std::filesystem::path alias = run_.file("alias.img");
    std::filesystem::create_symlink(image_, alias);

    const std::string holder = "read-write as dom1's xvda (/local/domain/0/backend/qdisk/1/51712)";
    refused("h", "vdev=xvda", alias, holder);
    refused("h", "vdev=xvda,access=ro", image_, holder);
    refused("g", "vdev=xvdb", image_, holder);
    refused("g", "vdev=vda,specification=virtio", alias, holder);

    ASSERT_EQ(run_.pvsim({"block-detach", "g", "xvda"}).code, 0);
    const CliResult again = attach("h", "vdev=vda,specification=virtio", alias);
    ASSERT_EQ(again.code, 0) << again.err;
    refused("g", "vdev=xvda,access=ro", image_,
            "read-write as dom2's vda (/local/domain/0/backend/vhost-user-blk/2/0)");
}

TEST_F(CliDiskSharingTest, ReadOnlyDisksShareAnImageThatNoDiskMayThenWrite) {
    attached("g", "vdev=xvda,access=ro");
    attached("g", "vdev=vda,specification=virtio,access=ro");
    refused("g", "vdev=xvdb", image_,
            "read-only as dom1's xvda (/local/domain/0/backend/qdisk/1/51712)");
    EXPECT_EQ(disks("g").size(), 2u);
}

// The block script's canonicalise_mode: a mode with a 'w' and a '!' is
// never checked, and blkback writes through it as through w (strchr 'w').
TEST_F(CliDiskSharingTest, AccessWBangSharesAnImageWritableOnPurpose) {
    attached("g", "vdev=xvda,access=w!");
    attached("g", "vdev=xvdb,access=w!");
    const nlohmann::json list = disks("g");
    ASSERT_EQ(list.size(), 2u);
    for (const auto& disk : list) {
        EXPECT_EQ(disk["access"], "rw") << disk.dump();
        EXPECT_EQ(disk["backend"]["name"], "Connected") << disk.dump();
    }
    const CliResult io = run_.pvsim({"io", "g", "xvdb", "--rw", "randwrite", "--bs", "4k", "--size",
                                     "256k", "--verify", "crc32c", "--json"});
    ASSERT_EQ(io.code, 0) << io.err;
    EXPECT_EQ(io.json()["jobs"][0]["pvsim"]["verify"]["blocks_checked"], 64) << io.out;
    // check_sharing for w: any holder at all, shared or not.
    refused("g", "vdev=xvdc", image_,
            "read-write, shared as dom1's xvda (/local/domain/0/backend/qdisk/1/51712)");
}

}  // namespace disk_sharing_test
}  // namespace pvsim::test
