// What block-list shows as in use (tools/toolstack/vbd_status.hpp
// negotiated_features): blkfront's decisions, made again from the nodes
// both ends wrote and the frontend's configuration.
#include <gtest/gtest.h>

#include <map>

#include "tools/toolstack/vbd_status.hpp"

namespace pvsim::tools::toolstack {
namespace {

using Nodes = std::map<std::string, std::string, std::less<>>;

NodeReader reader(const Nodes& nodes) {
    return [nodes](std::string_view name) {
        const auto found = nodes.find(name);
        return found == nodes.end() ? std::nullopt : std::optional<std::string>(found->second);
    };
}

// What Linux's blkback offers with every feature on, and a frontend that
// took a 4-page ring and 2 queues.
const Nodes kLinuxBackend = {{"feature-persistent", "1"},  {"feature-max-indirect-segments", "256"},
                             {"max-ring-page-order", "4"}, {"multi-queue-max-queues", "4"},
                             {"feature-discard", "1"},     {"feature-flush-cache", "1"},
                             {"feature-barrier", "1"}};

TEST(NegotiatedFeatures, EverythingOnAtBothEnds) {
    const Nodes front = {
        {"feature-persistent", "1"}, {"ring-page-order", "2"}, {"multi-queue-num-queues", "2"}};
    const auto features = negotiated_features(reader(kLinuxBackend), reader(front));
    const std::map<std::string, std::string> expected = {
        {"persistent", "1"},      {"bounce", "1"},  {"indirect-segments", "32"},
        {"ring-page-order", "2"}, {"queues", "2"},  {"discard", "1"},
        {"flush-cache", "1"},     {"barrier", "1"}, {"grant-mode", "map"}};
    EXPECT_EQ(features, expected);
}

TEST(NegotiatedFeatures, NothingOfferedIsNothingInUse) {
    const auto features = negotiated_features(reader({}), reader({{"feature-persistent", "1"}}));
    EXPECT_EQ(features.at("persistent"), "0");
    EXPECT_EQ(features.at("bounce"), "0");
    EXPECT_EQ(features.at("indirect-segments"), "0");
    EXPECT_EQ(features.at("ring-page-order"), "0");
    EXPECT_EQ(features.at("queues"), "1");
    EXPECT_EQ(features.at("discard"), "0");
    EXPECT_EQ(features.at("flush-cache"), "0");
    EXPECT_EQ(features.at("barrier"), "0");
}

TEST(NegotiatedFeatures, TheFrontendsConfigurationCapsWhatItUses) {
    const Nodes front = {{"feature-persistent", "0"},
                         {"pvsim-max-indirect-segments", "128"},
                         {"pvsim-feature-discard", "0"},
                         {"pvsim-feature-barrier", "0"}};
    const auto features = negotiated_features(reader(kLinuxBackend), reader(front));
    EXPECT_EQ(features.at("persistent"), "0");  // offered, not taken
    EXPECT_EQ(features.at("indirect-segments"), "128");
    EXPECT_EQ(features.at("discard"), "0");
    EXPECT_EQ(features.at("flush-cache"), "1");
    EXPECT_EQ(features.at("barrier"), "0");
    // An offer of no more than a plain request's 11 segments: plain requests.
    Nodes small = kLinuxBackend;
    small["feature-max-indirect-segments"] = "11";
    EXPECT_EQ(negotiated_features(reader(small), reader({})).at("indirect-segments"), "0");
    small["feature-max-indirect-segments"] = "12";
    EXPECT_EQ(negotiated_features(reader(small), reader({})).at("indirect-segments"), "12");
}

// xen-blkfront (5.19+): info->bounce = !trusted, and persistent grants
// bounce too; a frontend without the node (older toolstacks) trusts.
TEST(NegotiatedFeatures, BounceIsAnUntrustedBackendOrPersistentGrants) {
    const Nodes no_persistent = {{"feature-persistent", "0"}};
    EXPECT_EQ(negotiated_features(reader(kLinuxBackend), reader(no_persistent)).at("bounce"), "0");
    Nodes untrusted = no_persistent;
    untrusted["trusted"] = "0";
    EXPECT_EQ(negotiated_features(reader(kLinuxBackend), reader(untrusted)).at("bounce"), "1");
    untrusted["trusted"] = "1";
    EXPECT_EQ(negotiated_features(reader(kLinuxBackend), reader(untrusted)).at("bounce"), "0");
    EXPECT_EQ(negotiated_features(reader(kLinuxBackend), reader({{"feature-persistent", "1"}}))
                  .at("bounce"),
              "1");
}

TEST(NegotiatedFeatures, GrantModeIsTheBackendsConfiguration) {
    Nodes back = kLinuxBackend;
    back["pvsim-grant-mode"] = "copy";
    EXPECT_EQ(negotiated_features(reader(back), reader({})).at("grant-mode"), "copy");
    // A bad node is that end's error to report; its default is shown.
    back["pvsim-grant-mode"] = "steal";
    EXPECT_EQ(negotiated_features(reader(back), reader({})).at("grant-mode"), "map");
}

// block-list's JSON: each feature a value of its kind, from what both
// ends negotiate (blkif.h's 0/1 flags, counts): Linux's backend without
// feature-barrier.
TEST(NegotiatedFeatures, TheJsonGivesFlagsAsBooleansAndCountsAsNumbers) {
    Nodes back = kLinuxBackend;
    back.erase("feature-barrier");
    std::map<std::string, std::string> features =
        negotiated_features(reader(back), reader({{"feature-persistent", "1"}}));
    features["poll-us"] = "50";
    features["direct"] = "1";
    const nlohmann::json json = features_json(features);
    EXPECT_EQ(json.at("persistent"), true);
    EXPECT_EQ(json.at("barrier"), false);
    EXPECT_EQ(json.at("direct"), true);
    EXPECT_EQ(json.at("queues"), 1);
    EXPECT_EQ(json.at("ring-page-order"), 0);
    EXPECT_EQ(json.at("poll-us"), 50);
    EXPECT_EQ(json.at("grant-mode"), "map");
    for (const auto& [name, value] : json.items()) {
        EXPECT_FALSE(value.is_string() && name != "grant-mode") << name << ": " << value;
    }
}

}  // namespace
}  // namespace pvsim::tools::toolstack
