// How a script line becomes words (tools/cli/script.hpp): the shell's
// quoting (POSIX 2.2: '...', "...", backslash), its # comments and its
// $NAME / ${NAME} expansion, with errors for what a shell would also refuse.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <string>
#include <vector>

#include "common/units.hpp"
#include "tools/cli/script.hpp"

namespace pvsim::tools::cli {
namespace {

using Words = std::vector<std::string>;

TEST(SplitWords, SpacesAndTabsSeparate) {
    EXPECT_EQ(split_words("io g xvda --bs 4k"), (Words{"io", "g", "xvda", "--bs", "4k"}));
    EXPECT_EQ(split_words("  create\tg \t --memory  64M  "),
              (Words{"create", "g", "--memory", "64M"}));
}

TEST(SplitWords, BlankLineIsNoWords) {
    EXPECT_TRUE(split_words("").empty());
    EXPECT_TRUE(split_words("   \t  ").empty());
}

TEST(SplitWords, SingleQuotesKeepEverything) {
    EXPECT_EQ(split_words("xenstore-write /a 'two words'"),
              (Words{"xenstore-write", "/a", "two words"}));
    EXPECT_EQ(split_words(R"('a\b "c"')"), (Words{R"(a\b "c")"}));
    EXPECT_EQ(split_words("x ''"), (Words{"x", ""}));
}

TEST(SplitWords, DoubleQuotes) {
    EXPECT_EQ(split_words(R"(write "a b" "it's")"), (Words{"write", "a b", "it's"}));
    EXPECT_EQ(split_words(R"("say \"hi\"")"), (Words{R"(say "hi")"}));
    EXPECT_EQ(split_words(R"("a\\b")"), (Words{R"(a\b)"}));
    EXPECT_EQ(split_words(R"("\$HOME")"), (Words{"$HOME"}));
    // Before any other character a backslash is itself, as in the shell.
    EXPECT_EQ(split_words(R"("a\nb")"), (Words{R"(a\nb)"}));
    EXPECT_EQ(split_words(R"(x "")"), (Words{"x", ""}));
}

TEST(SplitWords, QuotedPartsJoinTheirWord) {
    EXPECT_EQ(split_words(R"(target='/a b'.img,vdev=xvda)"), (Words{"target=/a b.img,vdev=xvda"}));
    EXPECT_EQ(split_words(R"(a"b"'c'd)"), (Words{"abcd"}));
}

TEST(SplitWords, BackslashOutsideQuotes) {
    EXPECT_EQ(split_words(R"(a\ b c)"), (Words{"a b", "c"}));
    EXPECT_EQ(split_words(R"(\'x\")"), (Words{R"('x")"}));
    EXPECT_EQ(split_words(R"(a\\b)"), (Words{R"(a\b)"}));
}

// POSIX 2.3 rule 10: a # that starts a word comments out the rest of the
// line; one inside a word or quotes is itself.
TEST(SplitWords, AHashStartingAWordIsACommentToTheEndOfTheLine) {
    EXPECT_EQ(split_words("create g  # the guest, then 'its disk"), (Words{"create", "g"}));
    EXPECT_EQ(split_words("# all of it"), Words{});
    EXPECT_EQ(split_words(R"(write /a b#c '#d' \#e)"), (Words{"write", "/a", "b#c", "#d", "#e"}));
    EXPECT_EQ(split_script_line("sleep 1 #$UNSET_IN_A_COMMENT"), (Words{"sleep", "1"}));
}

TEST(SplitWords, UnclosedQuoteIsAParseError) {
    for (const char* line : {"write 'abc", R"(write "abc)", R"(write "abc\")"}) {
        EXPECT_THROW((void)split_words(line), ParseError) << line;
    }
    try {
        (void)split_words("write 'abc");
        ADD_FAILURE() << "accepted";
    } catch (const ParseError& e) {
        EXPECT_EQ(std::string(e.what()), "unclosed ' quote");
    }
}

class ExpandVariables : public ::testing::Test {
  protected:
    void SetUp() override {
        ::setenv("PVSIM_TEST_DIR", "/run/x", 1);
        ::setenv("PVSIM_TEST_EMPTY", "", 1);
        ::unsetenv("PVSIM_TEST_UNSET");
    }
    void TearDown() override {
        ::unsetenv("PVSIM_TEST_DIR");
        ::unsetenv("PVSIM_TEST_EMPTY");
    }
};

TEST_F(ExpandVariables, Names) {
    EXPECT_EQ(expand_variables("make-image $PVSIM_TEST_DIR/a.img 1M"),
              "make-image /run/x/a.img 1M");
    EXPECT_EQ(expand_variables("$PVSIM_TEST_DIR"), "/run/x");
    // A name ends at the first character that cannot be in one.
    EXPECT_EQ(expand_variables("$PVSIM_TEST_DIR-b,$PVSIM_TEST_DIR.c"), "/run/x-b,/run/x.c");
    EXPECT_EQ(expand_variables("[$PVSIM_TEST_EMPTY]"), "[]");
}

TEST_F(ExpandVariables, BracedNames) {
    EXPECT_EQ(expand_variables("${PVSIM_TEST_DIR}img"), "/run/ximg");
    EXPECT_EQ(expand_variables("target=${PVSIM_TEST_DIR}/a.img,vdev=xvda"),
              "target=/run/x/a.img,vdev=xvda");
}

TEST_F(ExpandVariables, EscapedDollarIsLiteral) {
    EXPECT_EQ(expand_variables(R"(\$PVSIM_TEST_DIR)"), "$PVSIM_TEST_DIR");
    EXPECT_EQ(expand_variables(R"(\${PVSIM_TEST_UNSET})"), "${PVSIM_TEST_UNSET}");
    // A backslash before anything else stays for split_words.
    EXPECT_EQ(expand_variables(R"(a\ b)"), R"(a\ b)");
}

TEST_F(ExpandVariables, DollarWithoutANameStays) {
    EXPECT_EQ(expand_variables("cost 5$"), "cost 5$");
    EXPECT_EQ(expand_variables("a $ b"), "a $ b");
}

TEST_F(ExpandVariables, NoVariablesLeavesTheLine) {
    EXPECT_EQ(expand_variables("io g xvda --bs 4k"), "io g xvda --bs 4k");
    EXPECT_EQ(expand_variables(""), "");
}

TEST_F(ExpandVariables, UnknownVariableIsAParseErrorNamingIt) {
    for (const char* line :
         {"echo $PVSIM_TEST_UNSET", "echo ${PVSIM_TEST_UNSET}", "a${PVSIM_TEST_UNSET}b"}) {
        try {
            (void)expand_variables(line);
            ADD_FAILURE() << "accepted " << line;
        } catch (const ParseError& e) {
            EXPECT_NE(std::string(e.what()).find("PVSIM_TEST_UNSET"), std::string::npos)
                << e.what();
        }
    }
    EXPECT_THROW((void)expand_variables("${}"), ParseError);
}

TEST_F(ExpandVariables, UnclosedBraceIsAParseError) {
    try {
        (void)expand_variables("a ${PVSIM_TEST_DIR b");
        ADD_FAILURE() << "accepted";
    } catch (const ParseError& e) {
        EXPECT_NE(std::string(e.what()).find("unclosed ${"), std::string::npos) << e.what();
    }
}

TEST_F(ExpandVariables, ThenSplit) {
    ::setenv("PVSIM_TEST_DIR", "/run/with space", 1);
    EXPECT_EQ(split_words(expand_variables(R"(make-image "$PVSIM_TEST_DIR/a.img" 1M)")),
              (Words{"make-image", "/run/with space/a.img", "1M"}));
}

TEST_F(ExpandVariables, ScriptLinesExpandOutsideSingleQuotesOnly) {
    ::setenv("PVSIM_TEST_DIR", "/run/with space", 1);
    EXPECT_EQ(split_script_line(R"(make-image $PVSIM_TEST_DIR/a.img 1M)"),
              (Words{"make-image", "/run/with space/a.img", "1M"}));  // a value is not split
    EXPECT_EQ(split_script_line(R"(x "${PVSIM_TEST_DIR}b" '$PVSIM_TEST_DIR')"),
              (Words{"x", "/run/with spaceb", "$PVSIM_TEST_DIR"}));
    EXPECT_EQ(split_script_line(R"(x \$PVSIM_TEST_DIR "\$PVSIM_TEST_DIR" 5$)"),
              (Words{"x", "$PVSIM_TEST_DIR", "$PVSIM_TEST_DIR", "5$"}));
    ::setenv("PVSIM_TEST_DIR", "it's \"quoted\"", 1);
    EXPECT_EQ(split_script_line("x $PVSIM_TEST_DIR"), (Words{"x", "it's \"quoted\""}));
    EXPECT_EQ(split_script_line("x $PVSIM_TEST_EMPTY"), (Words{"x", ""}));
    EXPECT_THROW((void)split_script_line("x $PVSIM_TEST_UNSET"), ParseError);
}

}  // namespace
}  // namespace pvsim::tools::cli
