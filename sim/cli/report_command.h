#pragma once
// slsim report RUN_OR_SWEEP... -o report.html: the HTML report is drawn by scripts/report.py
// (plotly, from the data scripts/plot.py reads); this finds the script and a Python interpreter
// and runs the script in this process's place.

#include <string>
#include <vector>

namespace slsim {

int report_command(const std::vector<std::string>& args);

}  // namespace slsim
