// The CLI's aligned columns (tools/cli/table.hpp), as xl list prints them.
#include <gtest/gtest.h>

#include <stdexcept>

#include "tools/cli/table.hpp"

namespace pvsim::tools::cli {
namespace {

TEST(Table, LeftAndRightAlignedColumns) {
    Table table({"Name", ">ID", ">Mem(MiB)", "State"});
    table.add({"Domain-0", "0", "64", "running"});
    table.add({"g", "12", "1024", "dying"});
    EXPECT_EQ(table.render(),
              "Name      ID  Mem(MiB)  State\n"
              "Domain-0   0        64  running\n"
              "g         12      1024  dying\n");
}

TEST(Table, WidestCellSetsTheWidth) {
    Table table({"A", ">B"});
    table.add({"x", "1"});
    table.add({"longer", "123456"});
    EXPECT_EQ(table.render(),
              "A            B\n"
              "x            1\n"
              "longer  123456\n");
}

TEST(Table, LastLeftColumnHasNoTrailingSpaces) {
    Table table({"Vdev", "Features"});
    table.add({"xvda", "-"});
    table.add({"xvdb", "persistent,discard"});
    EXPECT_EQ(table.render(),
              "Vdev  Features\n"
              "xvda  -\n"
              "xvdb  persistent,discard\n");
}

TEST(Table, HeadersOnly) {
    EXPECT_EQ(Table({"Name", ">ID"}).render(), "Name  ID\n");
}

TEST(Table, EmptyCells) {
    Table table({">N", "S"});
    table.add({"", ""});
    table.add({"7", "x"});
    EXPECT_EQ(table.render(),
              "N  S\n"
              "   \n"
              "7  x\n");
}

TEST(Table, RowOfTheWrongSizeIsALogicError) {
    Table table({"A", "B"});
    EXPECT_THROW(table.add({"1"}), std::logic_error);
    EXPECT_THROW(table.add({"1", "2", "3"}), std::logic_error);
    EXPECT_NO_THROW(table.add({"1", "2"}));
    EXPECT_EQ(table.render(), "A  B\n1  2\n");
}

}  // namespace
}  // namespace pvsim::tools::cli
