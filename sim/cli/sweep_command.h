#pragma once
// `slsim sweep CONFIG --grid k=v1,v2 [--zip 'k1=a,b;k2=c,d'] [-j N] [-o DIR]`: every point of the
// cross product as its own run in DIR/<point>/, resumable, gathered into DIR/sweep.csv. In a
// build with SLSIM_MPI, `mpirun -np N slsim sweep ...` deals the points out to the ranks and
// rank 0 writes sweep.csv.

#include <string>
#include <vector>

namespace slsim {

int sweep_command(const std::vector<std::string>& args);

}  // namespace slsim
