// Token trees through the engine: a verify pass gives every node the logits of its path run
// as a chain, a tree built over several passes (as a draft expands it) does too, KeepRows
// leaves the cache of the accepted path, and malformed trees are refused by name.
#include <gtest/gtest.h>

#include <gmock/gmock.h>

#include "common/engine/token_tree.h"
#include "tests/unit/engine/tiny_model.h"

namespace strata::testing {
namespace {

using ::testing::HasSubstr;

ServingLimits Limits() {
  ServingLimits o;
  o.max_batch_tokens = 64;
  o.max_seq_len = 64;
  o.kv_slots = 4;
  return o;
}

std::vector<float> Row(const std::vector<float>& logits, size_t row, size_t vocab) {
  return {logits.begin() + static_cast<std::ptrdiff_t>(row * vocab),
          logits.begin() + static_cast<std::ptrdiff_t>((row + 1) * vocab)};
}

// The last-position logits of `ids` run as one chain in a fresh slot.
std::vector<float> ChainLogits(LlamaModel& model, const std::vector<int32_t>& ids) {
  const int32_t slot = *model.kv_cache().Acquire();
  BatchLayout batch;
  batch.Add(slot, 0, ids.data(), static_cast<int32_t>(ids.size()));
  std::vector<float> logits;
  EXPECT_TRUE(model.Forward(batch, LogitsMode::kLastToken, &logits).ok());
  model.kv_cache().Release(slot);
  return logits;
}

// root -> {0: 11, 1: 12}; 0 -> {2: 13, 5: 16}; 2 -> {3: 14}; 1 -> {4: 15}.
TokenTree SmallTree() {
  TokenTree tree;
  tree.Add(TokenTree::kRoot, 11);
  tree.Add(TokenTree::kRoot, 12);
  tree.Add(0, 13);
  tree.Add(2, 14);
  tree.Add(1, 15);
  tree.Add(0, 16);
  return tree;
}

std::vector<int32_t> PathIds(const std::vector<int32_t>& prefix, int32_t root,
                             const TokenTree& tree, int32_t node) {
  std::vector<int32_t> path;
  for (int32_t n = node; n != TokenTree::kRoot; n = tree.parent(n)) path.push_back(tree.token(n));
  std::vector<int32_t> ids = prefix;
  ids.push_back(root);
  ids.insert(ids.end(), path.rbegin(), path.rend());
  return ids;
}

class TokenTreeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    tiny_ = LoadTinyModel(Limits());
    ASSERT_NE(tiny_, nullptr);
    prefix_ = ReferenceCases()[0].input_ids;
    vocab_ = static_cast<size_t>(tiny_->model->config().vocab_size);
  }
  LlamaModel& model() { return *tiny_->model; }
  // A slot holding prefix_ (without the root).
  int32_t Prefilled() {
    const int32_t slot = *model().kv_cache().Acquire();
    BatchLayout batch;
    batch.Add(slot, 0, prefix_.data(), static_cast<int32_t>(prefix_.size()));
    std::vector<float> logits;
    EXPECT_TRUE(model().Forward(batch, LogitsMode::kLastToken, &logits).ok());
    return slot;
  }

  std::unique_ptr<TinyModel> tiny_;
  std::vector<int32_t> prefix_;
  size_t vocab_ = 0;
  static constexpr int32_t kRootToken = 7;
};

TEST_F(TokenTreeTest, AVerifyPassGivesEveryNodeTheLogitsOfItsPathRunAsAChain) {
  const TokenTree tree = SmallTree();
  const int32_t slot = Prefilled();
  const int32_t start = static_cast<int32_t>(prefix_.size());
  BatchLayout batch;
  const int32_t root[] = {kRootToken};
  tree.AppendSpan(batch, slot, start, root, 0, tree.size(), 0);
  ASSERT_EQ(batch.seqs[0].tree_base, start + 1);
  std::vector<float> logits;
  ASSERT_TRUE(model().Forward(batch, LogitsMode::kAllTokens, &logits).ok());
  ASSERT_EQ(logits.size(), static_cast<size_t>(tree.size() + 1) * vocab_);
  std::vector<int32_t> root_path = prefix_;
  root_path.push_back(kRootToken);
  EXPECT_LT(MaxRelativeError(Row(logits, 0, vocab_), ChainLogits(model(), root_path)), 1e-5);
  for (int32_t node = 0; node < tree.size(); ++node) {
    const std::vector<float> alone = ChainLogits(model(), PathIds(prefix_, kRootToken, tree, node));
    EXPECT_LT(MaxRelativeError(Row(logits, static_cast<size_t>(node) + 1, vocab_), alone), 1e-5)
        << "node " << node;
  }
}

TEST_F(TokenTreeTest, ATreeBuiltOverSeveralPassesMatchesItsPathsAsTheDraftBuildsIt) {
  const TokenTree tree = SmallTree();
  const int32_t slot = Prefilled();
  const int32_t start = static_cast<int32_t>(prefix_.size());
  const int32_t tree_base = start + 1;
  std::vector<float> logits;
  // Pass 1: the root alone (a chain); pass 2: nodes 0-1; pass 3: nodes 2-4; pass 4: node 5.
  BatchLayout batch;
  const int32_t root[] = {kRootToken};
  batch.Add(slot, start, root, 1);
  ASSERT_TRUE(model().Forward(batch, LogitsMode::kLastToken, &logits).ok());
  for (const auto& [first, n] : {std::pair{0, 2}, std::pair{2, 3}, std::pair{5, 1}}) {
    batch.Clear();
    tree.AppendSpan(batch, slot, tree_base + first, {}, first, n, tree_base);
    ASSERT_TRUE(model().Forward(batch, LogitsMode::kAllTokens, &logits).ok());
    for (int32_t i = 0; i < n; ++i) {
      const std::vector<float> alone =
          ChainLogits(model(), PathIds(prefix_, kRootToken, tree, first + i));
      EXPECT_LT(MaxRelativeError(Row(logits, static_cast<size_t>(i), vocab_), alone), 1e-5)
          << "node " << first + i;
    }
  }
}

TEST_F(TokenTreeTest, KeepRowsLeavesTheAcceptedPathAndDecodingGoesOnFromIt) {
  const TokenTree tree = SmallTree();
  const int32_t slot = Prefilled();
  const int32_t start = static_cast<int32_t>(prefix_.size());
  BatchLayout batch;
  const int32_t root[] = {kRootToken};
  tree.AppendSpan(batch, slot, start, root, 0, tree.size(), 0);
  std::vector<float> logits;
  ASSERT_TRUE(model().Forward(batch, LogitsMode::kAllTokens, &logits).ok());
  // Accept root -> 0 -> 2 -> 3 (tokens 11, 13, 14): rows tree_base + {0, 2, 3}.
  const int32_t tree_base = start + 1;
  const int32_t kept[] = {tree_base + 0, tree_base + 2, tree_base + 3};
  ASSERT_TRUE(model().kv_cache().KeepRows(tiny_->backend, slot, tree_base, kept).ok());
  EXPECT_EQ(model().kv_cache().length(slot), tree_base + 3);
  const int32_t next = 21;
  batch.Clear();
  batch.Add(slot, tree_base + 3, &next, 1);
  ASSERT_TRUE(model().Forward(batch, LogitsMode::kLastToken, &logits).ok());
  std::vector<int32_t> ids = PathIds(prefix_, kRootToken, tree, 3);
  ids.push_back(next);
  EXPECT_LT(MaxRelativeError(logits, ChainLogits(model(), ids)), 1e-5);
}

TEST_F(TokenTreeTest, KeepRowsRefusesRowsOutOfOrderOrRange) {
  const int32_t slot = Prefilled();
  const int32_t n = static_cast<int32_t>(prefix_.size());
  KvCache& kv = model().kv_cache();
  const int32_t descending[] = {n - 1, n - 2};
  EXPECT_THAT(kv.KeepRows(tiny_->backend, slot, 1, descending).message(),
              HasSubstr("not ascending"));
  const int32_t past[] = {n};
  EXPECT_THAT(kv.KeepRows(tiny_->backend, slot, 1, past).message(), HasSubstr("not ascending"));
  EXPECT_THAT(kv.KeepRows(tiny_->backend, slot, n + 1, {}).message(), HasSubstr("which holds"));
  EXPECT_THAT(kv.KeepRows(tiny_->backend, 3, 0, {}).message(), HasSubstr("not in use"));
  EXPECT_EQ(kv.length(slot), n);  // nothing changed
  // Overlapping moves: rows 2, 3, 4 down to 1, 2, 3 keep their contents in order.
  const int32_t shifted[] = {2, 3, 4};
  ASSERT_TRUE(kv.KeepRows(tiny_->backend, slot, 1, shifted).ok());
  EXPECT_EQ(kv.length(slot), 4);
  std::vector<float> logits;
  BatchLayout batch;
  batch.Add(slot, 4, &prefix_[5], 1);
  ASSERT_TRUE(model().Forward(batch, LogitsMode::kLastToken, &logits).ok());
  // The cache now holds the K/V computed for prefix_ tokens 0, 2, 3, 4 at rows 0-3 (their
  // RoPE positions stay those of rows 0, 2, 3, 4): no chain reproduces that, so check the
  // rows themselves.
  const KvLayer& layer = kv.layer(0);
  const int64_t first = int64_t{slot} * layer.max_seq_len;
  const int32_t slot2 = Prefilled();
  const int64_t first2 = int64_t{slot2} * layer.max_seq_len;
  const int64_t cols = layer.k.cols;
  for (const auto& [dst, src] : {std::pair{1, 2}, std::pair{2, 3}, std::pair{3, 4}}) {
    for (int64_t c = 0; c < cols; ++c) {
      ASSERT_EQ(layer.k.f32()[(first + dst) * cols + c], layer.k.f32()[(first2 + src) * cols + c]);
      ASSERT_EQ(layer.v.f32()[(first + dst) * cols + c], layer.v.f32()[(first2 + src) * cols + c]);
    }
  }
}

TEST_F(TokenTreeTest, MalformedTreesAreRefusedByName) {
  const int32_t slot = Prefilled();
  const int32_t start = static_cast<int32_t>(prefix_.size());
  const int32_t ids[] = {kRootToken, 11};
  const int32_t positions[] = {start, start + 1};
  std::vector<float> logits;
  auto refused = [&](std::vector<uint64_t> masks, const int32_t* pos, int32_t tree_base) {
    BatchLayout batch;
    batch.AddTree(slot, start, tree_base, ids, pos, masks.data(), 2);
    const Status st = model().Forward(batch, LogitsMode::kAllTokens, &logits);
    EXPECT_EQ(model().kv_cache().length(slot), start);  // nothing written
    return st;
  };
  std::vector<uint64_t> good(2 * kTreeMaskWords, 0);
  good[kTreeMaskWords] = 1;  // node 0 sees itself
  std::vector<uint64_t> no_self = good;
  no_self[kTreeMaskWords] = 0;
  EXPECT_THAT(refused(no_self, positions, start + 1).message(), HasSubstr("its own row"));
  std::vector<uint64_t> later = good;
  later[kTreeMaskWords] = 0b11;
  EXPECT_THAT(refused(later, positions, start + 1).message(), HasSubstr("none after it"));
  const int32_t far[] = {start, start + 5};
  EXPECT_THAT(refused(good, far, start + 1).message(), HasSubstr("at a position in"));
  EXPECT_THAT(refused(good, positions, start + 3).message(), HasSubstr("a token tree from row"));
  // The well-formed tree runs.
  BatchLayout batch;
  batch.AddTree(slot, start, start + 1, ids, positions, good.data(), 2);
  EXPECT_TRUE(model().Forward(batch, LogitsMode::kAllTokens, &logits).ok());
}

}  // namespace
}  // namespace strata::testing
