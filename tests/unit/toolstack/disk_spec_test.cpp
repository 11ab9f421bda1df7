// DISKSPEC parsing (tools/toolstack/disk_spec.hpp), against xl's syntax as
// Xen's docs/misc/xl-disk-configuration.txt gives it: keys in any order,
// positional target, format, vdev, access, `target=` swallowing commas,
// flags, defaults for empty values, and an error naming the item for
// anything else.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "common/units.hpp"
#include "tools/toolstack/disk_backend.hpp"
#include "tools/toolstack/disk_spec.hpp"
#include "tools/toolstack/virtio_disk.hpp"

namespace pvsim::tools::toolstack {
namespace {

// The message of the ParseError `text` raises ("" and a failure if none).
std::string error_of(const std::string& text) {
    try {
        (void)parse_disk_spec(text);
    } catch (const ParseError& e) {
        return e.what();
    }
    ADD_FAILURE() << "accepted \"" << text << "\"";
    return {};
}

::testing::AssertionResult contains(const std::string& text, const std::string& part) {
    if (text.find(part) != std::string::npos) {
        return ::testing::AssertionSuccess();
    }
    return ::testing::AssertionFailure()
           << "\"" << text << "\" does not contain \"" << part << "\"";
}

TEST(DiskSpec, KeysInAnyOrder) {
    for (const char* text : {"target=/img/a.img,vdev=xvdb,access=ro,format=raw",
                             "vdev=xvdb,access=ro,format=raw,target=/img/a.img",
                             "access=ro,vdev=xvdb,target=/img/a.img,format=raw"}) {
        const DiskSpec spec = parse_disk_spec(text);
        EXPECT_EQ(spec.target, "/img/a.img") << text;
        EXPECT_EQ(spec.vdev, "xvdb") << text;
        EXPECT_EQ(spec.format, "raw") << text;
        EXPECT_TRUE(spec.readonly) << text;
        EXPECT_FALSE(spec.cdrom) << text;
    }
}

TEST(DiskSpec, Defaults) {
    const DiskSpec spec = parse_disk_spec("target=/a.img,vdev=xvda");
    EXPECT_EQ(spec.format, "raw");
    EXPECT_FALSE(spec.readonly);
    EXPECT_FALSE(spec.cdrom);
    EXPECT_EQ(spec.backend, "0");
    EXPECT_EQ(spec.specification, "xen");
    EXPECT_FALSE(spec.direct.has_value());
    EXPECT_FALSE(spec.poll_us.has_value());
    EXPECT_FALSE(spec.protocol.has_value());
    EXPECT_FALSE(spec.trusted.has_value());
    EXPECT_TRUE(spec.frontend_features.empty());
    EXPECT_TRUE(spec.backend_features.empty());
}

TEST(DiskSpec, TargetFirstKeepsCommasUpToTheNextKey) {
    const DiskSpec spec = parse_disk_spec("target=/a,b.img,vdev=xvda");
    EXPECT_EQ(spec.target, "/a,b.img");
    EXPECT_EQ(spec.vdev, "xvda");

    // A flag also ends it.
    const DiskSpec flagged = parse_disk_spec("target=/a,b,c.img,discard,vdev=xvdc");
    EXPECT_EQ(flagged.target, "/a,b,c.img");
    EXPECT_EQ(flagged.frontend_features.discard, true);
    EXPECT_EQ(flagged.backend_features.discard, true);
    EXPECT_EQ(flagged.vdev, "xvdc");

    // Something that only looks like a key (an unknown one) stays in the path.
    EXPECT_EQ(parse_disk_spec("target=/x,y=z.img,vdev=xvda").target, "/x,y=z.img");
}

TEST(DiskSpec, TargetLastSwallowsTheRest) {
    const DiskSpec spec = parse_disk_spec("vdev=xvda,access=r,target=/images/a,b,c.img");
    EXPECT_EQ(spec.target, "/images/a,b,c.img");
    EXPECT_EQ(spec.vdev, "xvda");
    EXPECT_TRUE(spec.readonly);
}

TEST(DiskSpec, Positional) {
    const DiskSpec spec = parse_disk_spec("/dev/vg/guest-volume,raw,hda,ro");
    EXPECT_EQ(spec.target, "/dev/vg/guest-volume");
    EXPECT_EQ(spec.format, "raw");
    EXPECT_EQ(spec.vdev, "hda");
    EXPECT_TRUE(spec.readonly);

    const DiskSpec mixed = parse_disk_spec("/a.img,raw,xvdb,queues=2");
    EXPECT_EQ(mixed.target, "/a.img");
    EXPECT_EQ(mixed.vdev, "xvdb");
    EXPECT_EQ(mixed.backend_features.max_queues, 2u);
    EXPECT_FALSE(mixed.readonly);
}

// xl-disk-configuration's own examples: these are all the same disk.
TEST(DiskSpec, XlEquivalentForms) {
    // The last two are xl-disk-configuration.5's deprecated forms: a
    // format prefix, then <vdev>,<access>; ignored prefixes stripped.
    for (const char* text : {"/dev/vg/guest-volume,,hda", "/dev/vg/guest-volume,raw,hda,rw",
                             "format=raw, vdev=hda, access=rw, target=/dev/vg/guest-volume",
                             "raw:/dev/vg/guest-volume,hda,w", "phy:/dev/vg/guest-volume,hda,w",
                             "tap:aio:/dev/vg/guest-volume,hda,rw"}) {
        const DiskSpec spec = parse_disk_spec(text);
        EXPECT_EQ(spec.target, "/dev/vg/guest-volume") << text;
        EXPECT_EQ(spec.format, "raw") << text;
        EXPECT_EQ(spec.vdev, "hda") << text;
        EXPECT_FALSE(spec.readonly) << text;
        EXPECT_FALSE(spec.cdrom) << text;
    }
    for (const char* text :
         {"/root/image.iso,,hdc,cdrom", "/root/image.iso,,hdc,,cdrom",
          "raw:/root/image.iso,hdc:cdrom,r", "/root/image.iso,raw,hdc,devtype=cdrom",
          "format=raw, vdev=hdc, access=ro, devtype=cdrom, target=/root/image.iso"}) {
        const DiskSpec spec = parse_disk_spec(text);
        EXPECT_EQ(spec.target, "/root/image.iso") << text;
        EXPECT_EQ(spec.vdev, "hdc") << text;
        EXPECT_TRUE(spec.cdrom) << text;
        EXPECT_TRUE(spec.readonly) << text;
    }
}

// Positional items fill the positional parameters not yet given by name.
TEST(DiskSpec, PositionalSkipsWhatWasGivenByName) {
    const DiskSpec spec = parse_disk_spec("vdev=xvdb,/a.img,raw,ro");
    EXPECT_EQ(spec.target, "/a.img");
    EXPECT_EQ(spec.vdev, "xvdb");
    EXPECT_TRUE(spec.readonly);

    const DiskSpec format_named = parse_disk_spec("format=raw,/a.img,xvdc");
    EXPECT_EQ(format_named.target, "/a.img");
    EXPECT_EQ(format_named.vdev, "xvdc");
}

TEST(DiskSpec, EmptyValuesMeanTheDefault) {
    const DiskSpec spec = parse_disk_spec("format=,access=,backend=,target=/a.img,vdev=xvda");
    EXPECT_EQ(spec.format, "raw");
    EXPECT_FALSE(spec.readonly);
    EXPECT_EQ(spec.backend, "0");
    // An empty value does not count as given: the key may come again.
    EXPECT_EQ(parse_disk_spec("/a.img,,xvda,format=raw").format, "raw");
}

TEST(DiskSpec, AccessValues) {
    EXPECT_FALSE(parse_disk_spec("/a.img,raw,xvda,rw").readonly);
    EXPECT_FALSE(parse_disk_spec("/a.img,raw,xvda,w").readonly);
    EXPECT_TRUE(parse_disk_spec("/a.img,raw,xvda,ro").readonly);
    EXPECT_TRUE(parse_disk_spec("/a.img,raw,xvda,r").readonly);
    EXPECT_TRUE(parse_disk_spec("target=/a.img,vdev=xvda,access=r").readonly);
    const std::string message = error_of("target=/a.img,vdev=xvda,access=rx");
    EXPECT_TRUE(contains(message, "access=rx"));
    EXPECT_TRUE(contains(message, "rw, w, ro, r"));
}

TEST(DiskSpec, CdromIsReadOnly) {
    for (const char* text :
         {"target=/a.iso,vdev=hdc,devtype=cdrom", "/a.iso,raw,hdc,cdrom",
          "cdrom,target=/a.iso,vdev=hdc", "target=/a.iso,vdev=hdc,devtype=cdrom,access=rw"}) {
        const DiskSpec spec = parse_disk_spec(text);
        EXPECT_TRUE(spec.cdrom) << text;
        EXPECT_TRUE(spec.readonly) << text;
    }
    EXPECT_FALSE(parse_disk_spec("target=/a.img,vdev=xvda,devtype=disk").cdrom);
    EXPECT_TRUE(contains(error_of("target=/a.img,vdev=xvda,devtype=floppy"), "devtype=floppy"));
    // The bare flag and devtype= are the same parameter.
    EXPECT_TRUE(contains(error_of("cdrom,devtype=cdrom,target=/a.iso,vdev=hdc"),
                         "\"devtype\" given twice"));
}

TEST(DiskSpec, Discard) {
    EXPECT_EQ(parse_disk_spec("target=/a.img,vdev=xvda,discard").backend_features.discard, true);
    EXPECT_EQ(parse_disk_spec("target=/a.img,vdev=xvda,no-discard").backend_features.discard,
              false);
    EXPECT_EQ(parse_disk_spec("target=/a.img,vdev=xvda,discard=1").backend_features.discard, true);
    EXPECT_EQ(parse_disk_spec("target=/a.img,vdev=xvda,discard=0").backend_features.discard, false);
    EXPECT_TRUE(contains(error_of("target=/a.img,vdev=xvda,discard=2"), "discard=2"));
    EXPECT_TRUE(contains(error_of("target=/a.img,vdev=xvda,discard,no-discard"),
                         "\"discard\" given twice"));
}

TEST(DiskSpec, OtherKeys) {
    const DiskSpec spec = parse_disk_spec(
        "target=/a.img,vdev=vda,backend=driver-dom,specification=virtio,direct=1,poll-us=50");
    EXPECT_EQ(spec.backend, "driver-dom");
    EXPECT_EQ(spec.specification, "virtio");
    EXPECT_EQ(spec.direct, true);
    EXPECT_EQ(spec.poll_us, 50u);
    EXPECT_EQ(parse_disk_spec("target=/a.img,vdev=xvda,direct=0").direct, false);
    EXPECT_TRUE(
        contains(error_of("target=/a.img,vdev=xvda,specification=scsi"), "specification=scsi"));
    EXPECT_TRUE(contains(error_of("target=/a.img,vdev=xvda,direct=maybe"), "direct=maybe"));
}

// The guest's ABI: the two x86 layouts Linux's blkback knows, nothing else.
TEST(DiskSpec, ProtocolIsOneOfTheTwoX86Layouts) {
    EXPECT_EQ(parse_disk_spec("target=/a.img,vdev=xvda,protocol=x86_32-abi").protocol,
              xen::BlkifProtocol::x86_32);
    EXPECT_EQ(parse_disk_spec("target=/a.img,vdev=xvda,protocol=x86_64-abi").protocol,
              xen::BlkifProtocol::x86_64);
    const std::string error = error_of("target=/a.img,vdev=xvda,protocol=arm-abi");
    EXPECT_TRUE(contains(error, "protocol=arm-abi: expected one of x86_64-abi, x86_32-abi"))
        << error;
}

// xl's trusted / untrusted (Xen 4.17+), as bare flags or trusted=on|off,
// wherever they stand.
TEST(DiskSpec, TrustedAndUntrustedAreTheFrontendsTrustedNode) {
    EXPECT_EQ(parse_disk_spec("target=/a.img,vdev=xvda,untrusted").trusted, false);
    EXPECT_EQ(parse_disk_spec("untrusted,/a.img,,xvda").trusted, false);
    EXPECT_EQ(parse_disk_spec("target=/a.img,vdev=xvda,trusted").trusted, true);
    EXPECT_EQ(parse_disk_spec("target=/a.img,vdev=xvda,trusted=off").trusted, false);
    EXPECT_EQ(parse_disk_spec("target=/a.img,vdev=xvda,trusted=1").trusted, true);
    // After target=, the flag ends the path as a known item does.
    const DiskSpec last = parse_disk_spec("vdev=xvda,target=/a,b.img,untrusted");
    EXPECT_EQ(last.target, "/a,b.img");
    EXPECT_EQ(last.trusted, false);
    EXPECT_TRUE(contains(error_of("target=/a.img,vdev=xvda,trusted=maybe"),
                         "DISKSPEC: trusted=maybe: expected on, off, 1 or 0"));
    EXPECT_TRUE(
        contains(error_of("target=/a.img,vdev=xvda,trusted,untrusted"), "\"trusted\" given twice"));
    EXPECT_TRUE(contains(error_of("target=/a.img,vdev=xvda,untrusted=1"), "untrusted"));
}

struct Range {
    const char* key;
    std::uint32_t min, max;
};

TEST(DiskSpec, NumberRanges) {
    for (const Range& range :
         {Range{"queues", 1, 16}, Range{"ring-page-order", 0, 4},
          Range{"max-indirect-segments", 0, 256}, Range{"poll-us", 0, 1000000}}) {
        const std::string base = "target=/a.img,vdev=xvda," + std::string(range.key) + "=";
        for (const std::uint32_t good : {range.min, range.max}) {
            EXPECT_NO_THROW((void)parse_disk_spec(base + std::to_string(good))) << base << good;
        }
        const std::string expected =
            "from " + std::to_string(range.min) + " to " + std::to_string(range.max);
        std::vector<std::string> bad = {
            std::to_string(range.max + 1), "x", "-1", "1.5", "+2", "99999999999"};
        if (range.min > 0) {
            bad.push_back(std::to_string(range.min - 1));
        }
        for (const std::string& value : bad) {
            const std::string message = error_of(base + value);
            EXPECT_TRUE(contains(message, std::string(range.key) + "=" + value));
            EXPECT_TRUE(contains(message, expected));
        }
    }
    const DiskSpec spec = parse_disk_spec(
        "target=/a.img,vdev=xvda,queues=4,ring-page-order=2,max-indirect-segments=32");
    for (const BlkifFeatureSettings& end : {spec.frontend_features, spec.backend_features}) {
        EXPECT_EQ(end.max_queues, 4u);
        EXPECT_EQ(end.max_ring_page_order, 2u);
        EXPECT_EQ(end.max_indirect_segments, 32u);
    }
}

TEST(DiskSpec, PrefixedNumberRangesAreTheEnds) {
    // The frontend may use as many segments as one indirect request holds;
    // the backend offers at most xen-blkback's MAX_INDIRECT_SEGMENTS.
    const std::string base = "target=/a.img,vdev=xvda,";
    EXPECT_EQ(parse_disk_spec(base + "frontend-max-indirect-segments=512")
                  .frontend_features.max_indirect_segments,
              512u);
    EXPECT_TRUE(
        contains(error_of(base + "backend-max-indirect-segments=512"),
                 "backend-max-indirect-segments=512: expected a whole number from 0 to 256"));
    EXPECT_TRUE(contains(error_of(base + "max-indirect-segments=257"), "from 0 to 256"));
    EXPECT_TRUE(contains(error_of(base + "frontend-queues=17"), "frontend-queues=17"));
    EXPECT_TRUE(contains(error_of(base + "backend-ring-page-order=5"), "from 0 to 4"));
}

TEST(DiskSpec, FlagsAndGrantMode) {
    const DiskSpec spec = parse_disk_spec(
        "target=/a.img,vdev=xvda,persistent=off,grant-mode=copy,flush=0,barrier=on");
    for (const BlkifFeatureSettings& end : {spec.frontend_features, spec.backend_features}) {
        EXPECT_EQ(end.persistent, false);
        EXPECT_EQ(end.flush_cache, false);
        EXPECT_EQ(end.barrier, true);
    }
    // The grant mode is the backend's alone.
    EXPECT_EQ(spec.backend_features.grant_mode, xen::BlkifGrantMode::copy);
    EXPECT_FALSE(spec.frontend_features.grant_mode.has_value());
    for (const char* on : {"1", "on", "yes"}) {
        EXPECT_EQ(parse_disk_spec(std::string("target=/a.img,vdev=xvda,persistent=") + on)
                      .frontend_features.persistent,
                  true);
    }
    EXPECT_EQ(parse_disk_spec("target=/a.img,vdev=xvda,grant-mode=map").backend_features.grant_mode,
              xen::BlkifGrantMode::map);
    const std::string message = error_of("target=/a.img,vdev=xvda,grant-mode=steal");
    EXPECT_TRUE(contains(message, "grant-mode=steal"));
    EXPECT_TRUE(contains(message, "map, copy"));
    EXPECT_TRUE(contains(error_of("target=/a.img,vdev=xvda,persistent=2"), "persistent=2"));
    EXPECT_TRUE(contains(error_of("target=/a.img,vdev=xvda,flush=maybe"), "on, off, 1 or 0"));
    EXPECT_TRUE(contains(error_of("target=/a.img,vdev=xvda,frontend-grant-mode=copy"),
                         "grant-mode is the backend's"));
    EXPECT_EQ(parse_disk_spec("target=/a.img,vdev=xvda,backend-grant-mode=copy")
                  .backend_features.grant_mode,
              xen::BlkifGrantMode::copy);
}

TEST(DiskSpec, PrefixSetsOneEndAndWinsOverTheUnprefixedKey) {
    const DiskSpec one = parse_disk_spec("target=/a.img,vdev=xvda,frontend-persistent=0");
    EXPECT_EQ(one.frontend_features.persistent, false);
    EXPECT_FALSE(one.backend_features.persistent.has_value());
    EXPECT_TRUE(one.backend_features.empty());
    for (const char* text : {"target=/a.img,vdev=xvda,queues=4,backend-queues=2",
                             "target=/a.img,vdev=xvda,backend-queues=2,queues=4"}) {
        const DiskSpec spec = parse_disk_spec(text);
        EXPECT_EQ(spec.frontend_features.max_queues, 4u) << text;
        EXPECT_EQ(spec.backend_features.max_queues, 2u) << text;
    }
    const DiskSpec mixed = parse_disk_spec(
        "target=/"
        "a.img,vdev=xvda,backend-discard=off,frontend-barrier=0,frontend-ring-page-order=3");
    EXPECT_EQ(mixed.backend_features.discard, false);
    EXPECT_FALSE(mixed.frontend_features.discard.has_value());
    EXPECT_EQ(mixed.frontend_features.barrier, false);
    EXPECT_EQ(mixed.frontend_features.max_ring_page_order, 3u);
    EXPECT_FALSE(mixed.backend_features.max_ring_page_order.has_value());
    EXPECT_TRUE(contains(error_of("target=/a.img,vdev=xvda,backend-queues=1,backend-queues=2"),
                         "\"backend-queues\" given twice"));
    EXPECT_TRUE(contains(error_of("target=/a.img,vdev=xvda,middle-queues=1"),
                         "unknown key \"middle-queues\""));
    // A prefixed feature key ends a target= path as any known key does.
    EXPECT_EQ(parse_disk_spec("target=/a,b.img,frontend-queues=2,vdev=xvda").target, "/a,b.img");
}

TEST(DiskSpec, UnknownKeyListsTheAcceptedOnes) {
    const std::string message = error_of("target=/a.img,vdev=xvda,colour=blue");
    EXPECT_TRUE(contains(message, "unknown key \"colour\""));
    for (const char* key :
         {"access",        "backend", "barrier",  "devtype",    "direct",
          "discard",       "flush",   "format",   "grant-mode", "max-indirect-segments",
          "persistent",    "poll-us", "protocol", "queues",     "ring-page-order",
          "specification", "target",  "trusted",  "vdev",       "frontend- or backend- prefix"}) {
        EXPECT_TRUE(contains(message, key));
    }
}

// xl's backendtype= (phy|qdisk; tap refused, naming the key) and its
// direct-io-safe flag.
TEST(DiskSpec, BackendTypeAndDirectIoSafe) {
    const DiskSpec plain = parse_disk_spec("target=/a.img,vdev=xvda");
    EXPECT_FALSE(plain.backendtype.has_value());
    EXPECT_FALSE(plain.direct_io_safe.has_value());
    EXPECT_EQ(parse_disk_spec("target=/a.img,vdev=xvda,backendtype=qdisk").backendtype,
              DiskBackend::qdisk);
    const DiskSpec phy = parse_disk_spec("vdev=xvda,backendtype=phy,direct-io-safe,target=/a.img");
    EXPECT_EQ(phy.backendtype, DiskBackend::phy);
    EXPECT_EQ(phy.direct_io_safe, true);
    EXPECT_EQ(parse_disk_spec("target=/a.img,vdev=xvda,direct-io-safe=off").direct_io_safe, false);
    EXPECT_TRUE(contains(error_of("target=/a.img,vdev=xvda,backendtype=tap"), "backendtype=tap"));
    EXPECT_TRUE(contains(error_of("target=/a.img,vdev=xvda,backendtype=tap"), "phy or qdisk"));
}

TEST(DiskSpec, KeyTwice) {
    EXPECT_TRUE(contains(error_of("target=/a.img,vdev=xvda,vdev=xvdb"), "\"vdev\" given twice"));
    EXPECT_TRUE(
        contains(error_of("target=/a.img,vdev=xvda,queues=1,queues=2"), "\"queues\" given twice"));
    // A positional item and the same key by name.
    EXPECT_TRUE(contains(error_of("/a.img,target=/b.img,vdev=xvda"), "\"target\" given twice"));
    EXPECT_TRUE(contains(error_of("/a.img,raw,xvda,rw,access=ro"), "\"access\" given twice"));
}

TEST(DiskSpec, TooManyPositionals) {
    const std::string message = error_of("/a.img,raw,xvda,rw,extra");
    EXPECT_TRUE(contains(message, "\"extra\""));
    EXPECT_TRUE(contains(message, "too many positional items"));
    // An empty item with no positional parameter left for it.
    EXPECT_TRUE(contains(error_of("/a.img,raw,xvda,rw,,discard"), "empty item"));
    EXPECT_TRUE(contains(error_of("vdev=xvda,/a.img,raw,ro,,"), "empty item"));
}

TEST(DiskSpec, MissingTargetOrVdev) {
    EXPECT_TRUE(contains(error_of("vdev=xvda"), "no target"));
    EXPECT_TRUE(contains(error_of("target=,vdev=xvda"), "no target"));
    EXPECT_TRUE(contains(error_of(""), "no target"));
    EXPECT_TRUE(contains(error_of("target=/a.img"), "no vdev"));
    EXPECT_TRUE(contains(error_of("/a.img,raw"), "no vdev"));
    EXPECT_TRUE(contains(error_of("/a.img,raw,,ro"), "no vdev"));
}

// Deprecated prefixes that pvsim cannot honour are refused by name.
TEST(DiskSpec, DeprecatedPrefixesForAnotherFormatOrAScriptAreRefused) {
    EXPECT_TRUE(contains(error_of("qcow2:/a.qcow2,xvda,w"), "format=qcow2"));
    EXPECT_TRUE(contains(error_of("nbd:host:1234,xvda,w"), "block-nbd, which pvsim does not run"));
}

TEST(DiskSpec, OnlyRawFormat) {
    const std::string message = error_of("target=/a.qcow2,vdev=xvda,format=qcow2");
    EXPECT_TRUE(contains(message, "format=qcow2"));
    EXPECT_TRUE(contains(message, "raw"));
    EXPECT_TRUE(contains(error_of("/a.img,vhd,xvda"), "format=vhd"));
}

TEST(DiskSpec, EveryErrorIsAParseErrorWithDiskspecInIt) {
    for (const char* bad : {"", "vdev=xvda", "target=/a", "/a,raw,xvda,rw,x", "a=b",
                            "target=/a,vdev=xvda,format=qcow2", "target=/a,vdev=xvda,queues=0"}) {
        EXPECT_TRUE(contains(error_of(bad), "DISKSPEC: ")) << bad;
    }
}

}  // namespace
}  // namespace pvsim::tools::toolstack

namespace pvsim::tools::toolstack {
namespace {

TEST(DiskSpec, VirtioTakesATargetOrAVhostUserSocketAndQueues) {
    const DiskSpec own = parse_disk_spec("target=/a.img,vdev=vdb,specification=virtio,queues=4");
    EXPECT_EQ(own.specification, "virtio");
    EXPECT_EQ(own.vdev, "vdb");
    EXPECT_EQ(own.target, "/a.img");
    EXPECT_FALSE(own.vhost_user);
    EXPECT_EQ(own.frontend_features.max_queues, 4u);
    const DiskSpec external = parse_disk_spec("vdev=vda,specification=virtio,vhost-user=/q.sock");
    EXPECT_EQ(external.vhost_user, "/q.sock");
    EXPECT_TRUE(external.target.empty());
    // The order of the keys does not matter.
    EXPECT_EQ(parse_disk_spec("vhost-user=/q.sock,vdev=vda,specification=virtio").vhost_user,
              "/q.sock");
    // QEMU's chardev reconnect=SECONDS; unset leaves the default to attach.
    EXPECT_FALSE(external.reconnect);
    EXPECT_EQ(parse_disk_spec("vdev=vda,specification=virtio,vhost-user=/q,reconnect=5").reconnect,
              5u);
    EXPECT_EQ(parse_disk_spec("vdev=vda,specification=virtio,vhost-user=/q,reconnect=0").reconnect,
              0u);
}

TEST(DiskSpec, VirtioRefusesWhatOnlyXenHas) {
    for (const char* key :
         {"persistent=on", "max-indirect-segments=8", "ring-page-order=1", "discard=on",
          "flush=off", "barrier=off", "grant-mode=copy", "frontend-queues=2", "backend-queues=2"}) {
        const std::string error =
            error_of(std::string("target=/a.img,vdev=vda,specification=virtio,") + key);
        EXPECT_TRUE(contains(error, "Xen blkif feature")) << key << ": " << error;
    }
    EXPECT_TRUE(contains(error_of("target=/a.iso,vdev=vda,specification=virtio,devtype=cdrom"),
                         "devtype=cdrom"));
    EXPECT_TRUE(
        contains(error_of("target=/a.img,vdev=vda,specification=virtio,protocol=x86_32-abi"),
                 "protocol= is the layout of a Xen block ring"));
    EXPECT_TRUE(contains(error_of("target=/a.img,vdev=vda,specification=virtio,untrusted"),
                         "trusted/untrusted tells Xen's blkfront"));
    EXPECT_TRUE(contains(error_of("vdev=vda,specification=virtio"), "no target"));
    EXPECT_TRUE(contains(error_of("target=/a.img,vdev=vda,specification=virtio,vhost-user=/q"),
                         "give one of them"));
    EXPECT_TRUE(
        contains(error_of("vdev=vda,specification=virtio,vhost-user=/q,direct=1"), "direct="));
    EXPECT_TRUE(contains(error_of("target=/a.img,vdev=xvda,specification=virtio"),
                         "a virtio disk is named vd"));
    EXPECT_TRUE(contains(error_of("target=/a.img,vdev=xvda,vhost-user=/q"),
                         "only with specification=virtio"));
    EXPECT_TRUE(contains(error_of("target=/a.img,vdev=vda"), "add specification=virtio"));
    EXPECT_TRUE(contains(error_of("target=/a.img,vdev=xvda,reconnect=1"),
                         "only with specification=virtio"));
    EXPECT_TRUE(contains(error_of("vdev=vda,specification=virtio,vhost-user=/q,reconnect=3601"),
                         "reconnect="));
}

TEST(VirtioDisk, NamesNumberAsLinuxNamesVirtioDisks) {
    EXPECT_EQ(virtio_devid("vda"), 0u);
    EXPECT_EQ(virtio_devid("vdb"), 1u);
    EXPECT_EQ(virtio_devid("vdz"), 25u);
    EXPECT_EQ(virtio_devid("vdaa"), 26u);
    EXPECT_EQ(virtio_devid("vdba"), 52u);
    for (const char* bad : {"vd", "xvda", "vda1", "vdA", "sda", ""}) {
        EXPECT_FALSE(is_virtio_vdev(bad)) << bad;
        EXPECT_THROW((void)virtio_devid(bad), ParseError) << bad;
    }
}

}  // namespace
}  // namespace pvsim::tools::toolstack
