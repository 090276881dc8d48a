package local.pipeline.connect.s3;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

class BucketsTest {
  @Test
  void explicitBucketIsUsedAsGiven() {
    assertEquals("my-bucket", Buckets.bucketFor("alice.pin", "my-bucket"));
    assertEquals("my-bucket", Buckets.bucketFor("no-dot-topic", "my-bucket"));
  }

  @Test
  void emptyBucketDerivesTheNamespacesBucket() {
    assertEquals("user-alice-bucket", Buckets.bucketFor("alice.pin", ""));
    assertEquals("user-alice-bucket", Buckets.bucketFor("alice.user", null));
  }

  @Test
  void templateFillsUserId() {
    assertEquals("b-0a1b2c3d4e5f", Buckets.bucketFor("0a1b2c3d4e5f.geo", "b-${user_id}"));
  }

  @Test
  void namespaceIsEverythingBeforeTheLastDot() {
    assertEquals("a.b", Buckets.namespaceOf("a.b.pin"));
  }

  @Test
  void topicWithoutNamespaceNamesTheSettingToFix() {
    IllegalArgumentException e =
        assertThrows(IllegalArgumentException.class, () -> Buckets.bucketFor("plain", ""));
    assertTrue(e.getMessage().contains("s3.bucket.name"), e.getMessage());
    assertThrows(IllegalArgumentException.class, () -> Buckets.bucketFor(".pin", ""));
  }
}
