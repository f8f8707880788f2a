// s3backer's mount token as a ForeignMountFlag (volume/lease.h): the object
// PREFIX + "s3backer-mounted" (codec/s3backer_format.h). s3backer refuses a
// volume while the object exists, and we refuse it while s3backer's does.
//
//   Check   GET: absent, or one that s3bd wrote (its body names an s3bd
//           mount: "s3bd mount-id ID"): not foreign; any other: s3backer's,
//           described by its token and the host and time in its body
//   Set     PUT with x-amz-meta-s3backer-mount-token: 8 random hex digits,
//           body "HOST\nYYYYMMDDTHHMMSSZ\ns3bd mount-id ID\n" (s3backer's two
//           lines, then ours)
//   Clear   DELETE
//
// Errors: the S3 client's, logged by the caller. Thread-compatible (used by
// the lease, under its lock).
#pragma once

#include <memory>
#include <string>

#include "s3bd/s3/s3_client.h"
#include "s3bd/volume/lease.h"

namespace s3bd {

class S3backerMountToken : public ForeignMountFlag {
 public:
  S3backerMountToken(std::shared_ptr<s3::S3Client> client, std::string prefix, std::string host);

  std::error_code Check(bool* foreign, std::string* holder) override;
  std::error_code Set(const std::string& mount_id) override;
  std::error_code Clear() override;
  std::string HowToClear() const override;

 private:
  std::shared_ptr<s3::S3Client> client_;
  std::string key_;
  std::string host_;
};

}  // namespace s3bd
