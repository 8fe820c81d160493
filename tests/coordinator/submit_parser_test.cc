#include "coordinator/submit_parser.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "coordinator/proto_convert.h"
#include "gmock/gmock.h"
#include "google/protobuf/io/zero_copy_stream_impl_lite.h"
#include "gtest/gtest.h"
#include "vitte/task/v1/task.pb.h"

namespace vitte::task {
namespace {

using ::testing::HasSubstr;

absl::StatusOr<SubmitRequest> Parse(const std::string& bytes,
                                    const GraphLimits& limits = {}) {
  google::protobuf::io::ArrayInputStream in(bytes.data(),
                                            static_cast<int>(bytes.size()));
  return ParseSubmitRequest(in, limits);
}

v1::SubmitGraphRequest FullRequest() {
  v1::SubmitGraphRequest r;
  r.set_request_id("req-7");
  v1::GraphSpec& g = *r.mutable_graph();
  g.set_name("build");
  v1::TaskSpec& a = *g.add_tasks();
  a.set_id("compile");
  a.add_command("cc");
  a.add_command("-c");
  a.add_command("a.c");
  (*a.mutable_env())["CC"] = "clang";
  a.set_cwd("/src");
  a.set_priority(5);
  a.set_max_attempts(3);
  a.set_timeout_s(60);
  (*a.mutable_labels())["os"] = "linux";
  v1::TaskSpec& b = *g.add_tasks();
  b.set_id("link");
  b.add_command("ld");
  b.add_deps("compile");
  return r;
}

TEST(SubmitParserTest, ReadsWhatProtobufReads) {
  const v1::SubmitGraphRequest request = FullRequest();
  absl::StatusOr<SubmitRequest> parsed = Parse(request.SerializeAsString());
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->request_id, "req-7");
  const GraphSpec expected = FromProto(request.graph());
  EXPECT_EQ(parsed->spec.name, expected.name);
  EXPECT_EQ(parsed->spec.tasks, expected.tasks);
  EXPECT_EQ(parsed->spec.tasks[0].env.at("CC"), "clang");
  EXPECT_EQ(parsed->spec.tasks[1].deps, std::vector<std::string>{"compile"});
}

TEST(SubmitParserTest, SkipsUnknownFieldsAndMergesARepeatedGraph) {
  v1::SubmitGraphRequest first = FullRequest();
  v1::SubmitGraphRequest second;
  v1::TaskSpec& c = *second.mutable_graph()->add_tasks();
  c.set_id("test");
  c.add_command("true");
  // Field 99 (varint) at both levels, as a newer client might send.
  const std::string unknown = "\xf8\x06\x01";
  std::string bytes = first.SerializeAsString() + unknown +
                      second.SerializeAsString();
  absl::StatusOr<SubmitRequest> parsed = Parse(bytes);
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  v1::SubmitGraphRequest merged;
  ASSERT_TRUE(merged.ParseFromString(bytes));
  EXPECT_EQ(parsed->spec.tasks, FromProto(merged.graph()).tasks);
  EXPECT_EQ(parsed->spec.tasks.size(), 3u);
  EXPECT_EQ(parsed->spec.name, "build");
}

TEST(SubmitParserTest, RefusesBytesThatAreNotARequest) {
  const std::string bytes = FullRequest().SerializeAsString();
  for (size_t cut : {bytes.size() - 1, bytes.size() / 2, size_t{3}}) {
    absl::StatusOr<SubmitRequest> parsed = Parse(bytes.substr(0, cut));
    EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument)
        << "cut at " << cut;
    EXPECT_THAT(parsed.status().message(), HasSubstr("does not parse"));
  }
  EXPECT_FALSE(Parse("\xff\xff\xff\xff\xff\xff").ok());
}

// Everything protobuf refuses, refused too: a message cut at a field
// boundary (at end of input that looks like the end of the message), and
// strings that are not UTF-8.
TEST(SubmitParserTest, RefusesWhatProtobufRefuses) {
  const std::string bytes = FullRequest().SerializeAsString();
  for (size_t cut = 1; cut < bytes.size(); ++cut) {
    const std::string prefix = bytes.substr(0, cut);
    v1::SubmitGraphRequest reference;
    const bool protobuf_ok = reference.ParseFromString(prefix);
    absl::StatusOr<SubmitRequest> parsed = Parse(prefix);
    EXPECT_EQ(parsed.ok(), protobuf_ok) << "cut at " << cut;
    if (parsed.ok() && protobuf_ok) {
      EXPECT_EQ(parsed->spec.tasks, FromProto(reference.graph()).tasks);
    }
  }
  v1::SubmitGraphRequest bad_name = FullRequest();
  bad_name.mutable_graph()->set_name("caf\xe9");  // Latin-1, not UTF-8
  v1::SubmitGraphRequest bad_id = FullRequest();
  bad_id.set_request_id("\xff");
  for (const v1::SubmitGraphRequest& r : {bad_name, bad_id}) {
    std::string raw;
    ASSERT_TRUE(r.SerializePartialToString(&raw));
    v1::SubmitGraphRequest reference;
    EXPECT_FALSE(reference.ParseFromString(raw));
    EXPECT_EQ(Parse(raw).status().code(), absl::StatusCode::kInvalidArgument);
  }
}

TEST(SubmitParserTest, RefusesAGraphOverTheLimitsAsItCrossesThem) {
  v1::SubmitGraphRequest r;
  for (int i = 0; i < 5; ++i) {
    v1::TaskSpec& t = *r.mutable_graph()->add_tasks();
    t.set_id(absl::StrCat("t", i));
    t.add_command("true");
    if (i > 0) {
      t.add_deps("t0");
      t.add_deps(absl::StrCat("t", i - 1));
    }
  }
  GraphLimits limits;
  limits.max_tasks = 4;
  absl::StatusOr<SubmitRequest> parsed = Parse(r.SerializeAsString(), limits);
  EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(parsed.status().message(),
              HasSubstr("more than the limit of 4 tasks"));

  limits = GraphLimits();
  limits.max_total_deps = 5;
  parsed = Parse(r.SerializeAsString(), limits);
  EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(parsed.status().message(),
              HasSubstr("more than the limit of 5 dependencies"));

  limits.max_total_deps = 8;  // exactly what it has
  EXPECT_TRUE(Parse(r.SerializeAsString(), limits).ok());
}

}  // namespace
}  // namespace vitte::task
