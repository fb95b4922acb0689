// The shard rule, the sharded read, and DataParallelObjective's weighting, in one process: the shard
// objectives of P parts, each weighted as the wrapper weights it, must add up to the full-data
// objective (docs/distributed.md). With one rank the wrapper's reduction is the identity, so the sum
// over parts is taken here; under mpirun the same sum is MPI_Allreduce's (tests/parallel/mpi_tools_test.cpp).
#include <gtest/gtest.h>

#include <numeric>

#include "io/checkpoint.h"
#include "io/error.h"
#include "io/shard.h"
#include "models/datasets.h"
#include "models/network.h"
#include "parallel/data_parallel.h"
#include "parallel/parallel.h"
#include "support/process.h"

namespace sc = saddlescope;
using sc::objective::Matrix;
using sc::objective::Vector;

namespace {

TEST(Shard, PartsCoverTheRowsInOrderWithSizesDifferingByAtMostOne) {
  for (std::int64_t rows = 1; rows <= 60; ++rows)
    for (std::int64_t parts = 1; parts <= std::min<std::int64_t>(rows, 9); ++parts) {
      std::int64_t next = 0, smallest = rows, largest = 0;
      for (std::int64_t r = 0; r < parts; ++r) {
        const sc::io::RowShard s{r, parts};
        EXPECT_EQ(s.begin(rows), next) << rows << " rows, part " << r << " of " << parts;
        next = s.end(rows);
        smallest = std::min(smallest, s.end(rows) - s.begin(rows));
        largest = std::max(largest, s.end(rows) - s.begin(rows));
      }
      EXPECT_EQ(next, rows);
      EXPECT_LE(largest - smallest, 1);
      EXPECT_GE(smallest, 1);
    }
}

sc::io::DataArrays rows_of(const sc::io::DataArrays& d, std::int64_t begin, std::int64_t end) {
  return {d.X.middleRows(begin, end - begin), d.y.middleRows(begin, end - begin)};
}

sc::models::NetworkOptions mlp_options() {
  sc::models::NetworkOptions o;
  o.widths = {3, 5, 4, 3};
  o.activation = sc::models::Activation::tanh;
  o.loss = sc::models::Loss::cross_entropy;
  o.weight_decay = 0.03;  // the regulariser must be counted once, not once per part
  return o;
}

// Relative agreement of two results: a sum split into P partial sums differs from the one-pass sum by
// rounding only, a few ulps of the terms' magnitude; 1e-12 leaves three orders of margin at 37 samples.
void expect_close(const Matrix& a, const Matrix& b) {
  ASSERT_EQ(a.rows(), b.rows());
  ASSERT_EQ(a.cols(), b.cols());
  EXPECT_LE((a - b).cwiseAbs().maxCoeff(), 1e-12 * std::max(1.0, b.cwiseAbs().maxCoeff()));
}

TEST(DataParallelObjective, WeightedShardObjectivesSumToTheFullDataObjective) {
  const sc::io::DataArrays data = sc::models::synthetic_data("mixture:n=37,classes=3,dim=3,seed=4");
  const sc::models::NetworkOptions options = mlp_options();
  const sc::models::Network full(options, data);
  const Vector x = sc::models::initial_parameters(options, sc::models::Init::normal, 7, 0.5);
  Matrix V = Matrix::Zero(full.dim(), 3);
  for (sc::objective::Index i = 0; i < V.size(); ++i) V.data()[i] = std::sin(0.7 * static_cast<double>(i) + 0.1);
  const std::vector<std::int64_t> batch = {0, 5, 12, 13, 20, 36, 36, 2};  // crosses every part, repeats one

  for (std::int64_t parts : {1, 2, 3, 5}) {
    double value = 0, batch_value = 0, value_from_gradient = 0;
    Vector gradient = Vector::Zero(full.dim()), batch_gradient = Vector::Zero(full.dim());
    Matrix hv = Matrix::Zero(full.dim(), 3), gv = hv, fv = hv, batch_hv = hv;
    for (std::int64_t r = 0; r < parts; ++r) {
      const sc::io::RowShard shard{r, parts};
      sc::parallel::DataParallelObjective part(
          std::make_unique<sc::models::Network>(options, rows_of(data, shard.begin(37), shard.end(37))), shard, 37);
      EXPECT_EQ(part.sample_count(), 37);
      EXPECT_EQ(part.description(), full.description());
      value += part.value(x);
      Vector g;
      value_from_gradient += part.gradient(x, g);
      gradient += g;
      Matrix M;
      part.hessian_vector_product(x, V, M);
      hv += M;
      part.gauss_newton_vector_product(x, V, M);
      gv += M;
      part.fisher_vector_product(x, V, M);
      fv += M;
      batch_value += part.batch_value(x, batch);
      batch_gradient += (part.batch_gradient(x, batch, g), g);
      part.batch_hessian_vector_product(x, batch, V, M);
      batch_hv += M;
    }
    SCOPED_TRACE("parts = " + std::to_string(parts));
    EXPECT_NEAR(value, full.value(x), 1e-12 * std::abs(full.value(x)));
    EXPECT_NEAR(value_from_gradient, full.value(x), 1e-12 * std::abs(full.value(x)));
    Vector g;
    full.gradient(x, g);
    expect_close(gradient, g);
    Matrix M;
    full.hessian_vector_product(x, V, M);
    expect_close(hv, M);
    full.gauss_newton_vector_product(x, V, M);
    expect_close(gv, M);
    full.fisher_vector_product(x, V, M);
    expect_close(fv, M);
    EXPECT_NEAR(batch_value, full.batch_value(x, batch), 1e-12 * std::abs(full.batch_value(x, batch)));
    full.batch_gradient(x, batch, g);
    expect_close(batch_gradient, g);
    full.batch_hessian_vector_product(x, batch, V, M);
    expect_close(batch_hv, M);
  }
}

TEST(DataParallelObjective, RefusesALocalObjectiveThatIsNotItsShard) {
  const sc::io::DataArrays data = sc::models::synthetic_data("mixture:n=10,classes=3,dim=3");
  auto local = std::make_unique<sc::models::Network>(mlp_options(), rows_of(data, 0, 4));
  // Part 0 of 3 of 10 rows is rows [0, 3): 3 rows, not 4.
  EXPECT_THROW(sc::parallel::DataParallelObjective(std::move(local), {0, 3}, 10), std::invalid_argument);
  auto two = std::make_unique<sc::models::Network>(mlp_options(), rows_of(data, 0, 1));
  EXPECT_THROW(sc::parallel::DataParallelObjective(std::move(two), {0, 3}, 2), std::invalid_argument);
}

TEST(ShardedRead, HyperslabRowsEqualTheRowsOfTheWholeRead) {
  sc::testing::TempDir dir;
  sc::io::Checkpoint c;
  c.data = sc::models::synthetic_data("mixture:n=23,classes=3,dim=3");
  const sc::models::NetworkOptions options = mlp_options();
  c.params = sc::models::initial_parameters(options, sc::models::Init::xavier, 1);
  c.spec = {{"kind", "mlp"}};
  const std::string path = dir.file("c.h5");
  sc::io::write_checkpoint(path, c, sc::io::Provenance::capture("test", 0, nullptr));
  const sc::io::Checkpoint whole = sc::io::read_checkpoint(path);
  EXPECT_EQ(whole.data_rows, 23);
  for (std::int64_t r = 0; r < 4; ++r) {
    const sc::io::RowShard shard{r, 4};
    const sc::io::Checkpoint part = sc::io::read_checkpoint(path, shard);
    EXPECT_EQ(part.data_rows, 23);
    ASSERT_TRUE(part.data);
    EXPECT_EQ(part.data->X, whole.data->X.middleRows(shard.begin(23), shard.end(23) - shard.begin(23)));
    EXPECT_EQ(part.data->y, whole.data->y.middleRows(shard.begin(23), shard.end(23) - shard.begin(23)));
  }
  // More parts than samples: refused with a message naming both counts.
  try {
    (void)sc::io::read_checkpoint(path, {0, 24});
    ADD_FAILURE() << "24 parts of 23 samples were accepted";
  } catch (const sc::io::FileError& e) {
    EXPECT_NE(std::string(e.what()).find("23 samples, fewer than the 24 parts"), std::string::npos) << e.what();
  }
}

TEST(Parallel, OneProcessIsOneRankThatOwnsEveryItem) {
  // The test binary is not started by a launcher, so MPI is not initialised: one rank.
  sc::parallel::initialize(nullptr, nullptr);
  EXPECT_EQ(sc::parallel::size(), 1);
  EXPECT_EQ(sc::parallel::rank(), 0);
  EXPECT_TRUE(sc::parallel::is_root());
  for (std::int64_t i = 0; i < 10; ++i) EXPECT_TRUE(sc::parallel::owns_item(i));
  std::vector<std::vector<double>> records = {{1.0}, {}, {2.0, 3.0}};
  sc::parallel::share_items(records);
  EXPECT_EQ(records, (std::vector<std::vector<double>>{{1.0}, {}, {2.0, 3.0}}));
  std::vector<double> v = {1.5, -2.0};
  sc::parallel::sum_in_place(v);
  EXPECT_EQ(v, (std::vector<double>{1.5, -2.0}));
}

}  // namespace
