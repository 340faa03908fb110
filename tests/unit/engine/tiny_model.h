// A LlamaModel on the CPU backend over the committed tiny checkpoint, for engine tests.
#pragma once

#include <memory>

#include <gtest/gtest.h>

#include "common/backend/cpu/cpu_backend.h"
#include "common/engine/llama_model.h"
#include "common/model/checkpoint.h"
#include "tests/support/reference_fixture.h"

namespace strata::testing {

struct TinyModel {
  std::unique_ptr<Checkpoint> checkpoint;
  CpuBackend backend;
  std::unique_ptr<LlamaModel> model;
};

inline std::unique_ptr<TinyModel> LoadTinyModel(const ServingLimits& options) {
  auto t = std::make_unique<TinyModel>();
  StatusOr<Checkpoint> ckpt = Checkpoint::Open(TinyModelDir());
  EXPECT_TRUE(ckpt.ok()) << ckpt.status().ToString();
  if (!ckpt.ok()) return nullptr;
  t->checkpoint = std::make_unique<Checkpoint>(std::move(ckpt).value());
  StatusOr<LlamaWeights> weights = BindLlamaWeights(*t->checkpoint);
  EXPECT_TRUE(weights.ok()) << weights.status().ToString();
  if (!weights.ok()) return nullptr;
  StatusOr<std::unique_ptr<LlamaModel>> model =
      LlamaModel::CreateResident(t->backend, t->checkpoint->config(),
                                  std::move(weights).value(), options);
  EXPECT_TRUE(model.ok()) << model.status().ToString();
  if (!model.ok()) return nullptr;
  t->model = std::move(model).value();
  return t;
}

}  // namespace strata::testing
