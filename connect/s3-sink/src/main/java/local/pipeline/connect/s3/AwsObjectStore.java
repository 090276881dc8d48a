package local.pipeline.connect.s3;

import java.net.URI;
import java.util.Map;
import java.util.OptionalLong;
import software.amazon.awssdk.auth.credentials.AwsBasicCredentials;
import software.amazon.awssdk.auth.credentials.AwsCredentialsProvider;
import software.amazon.awssdk.auth.credentials.DefaultCredentialsProvider;
import software.amazon.awssdk.auth.credentials.StaticCredentialsProvider;
import software.amazon.awssdk.core.ResponseBytes;
import software.amazon.awssdk.core.sync.RequestBody;
import software.amazon.awssdk.http.apache.ApacheHttpClient;
import software.amazon.awssdk.regions.Region;
import software.amazon.awssdk.services.s3.S3Client;
import software.amazon.awssdk.services.s3.S3ClientBuilder;
import software.amazon.awssdk.services.s3.model.GetObjectResponse;
import software.amazon.awssdk.services.s3.model.HeadObjectResponse;
import software.amazon.awssdk.services.s3.model.ListObjectsV2Request;
import software.amazon.awssdk.services.s3.model.S3Exception;
import software.amazon.awssdk.services.s3.model.S3Object;

/** The AWS SDK v2 S3 client, pointed at store.url with path-style access when set. */
public final class AwsObjectStore implements ObjectStore {
  /** User metadata with the object's last offset, so resuming needs a HEAD, not a GET. */
  static final String END_OFFSET = "end-offset";

  private final S3Client s3;

  public AwsObjectStore(S3SinkConfig config) {
    AwsCredentialsProvider credentials =
        config.accessKey().isEmpty()
            ? DefaultCredentialsProvider.create()
            : StaticCredentialsProvider.create(
                AwsBasicCredentials.create(config.accessKey(), config.secretKey()));
    S3ClientBuilder builder =
        S3Client.builder()
            .httpClientBuilder(ApacheHttpClient.builder())
            .region(Region.of(config.region()))
            .credentialsProvider(credentials)
            .forcePathStyle(config.pathStyle());
    if (!config.storeUrl().isEmpty()) {
      builder.endpointOverride(URI.create(config.storeUrl()));
    }
    this.s3 = builder.build();
  }

  @Override
  public OptionalLong putIfAbsent(String bucket, Batch batch) {
    try {
      s3.putObject(
          r ->
              r.bucket(bucket)
                  .key(batch.key())
                  .contentType("application/json")
                  .metadata(Map.of(END_OFFSET, Long.toString(batch.endOffset())))
                  // S3 (since 2024) and SeaweedFS refuse the PUT if the key exists: a task
                  // that lost its partition can never replace what the new owner stored.
                  .overrideConfiguration(o -> o.putHeader("If-None-Match", "*")),
          RequestBody.fromBytes(batch.body()));
      return OptionalLong.empty();
    } catch (S3Exception e) {
      if (e.statusCode() != 412) {
        throw e;
      }
    }
    return OptionalLong.of(nextOffsetOf(bucket, batch.key(), batch.startOffset()));
  }

  private long nextOffsetOf(String bucket, String key, long start) {
    HeadObjectResponse head = s3.headObject(r -> r.bucket(bucket).key(key));
    String end = head.metadata().get(END_OFFSET);
    if (end != null) {
      return Long.parseLong(end) + 1;
    }
    // Written by another writer (the Python sink): count its lines.
    ResponseBytes<GetObjectResponse> body = s3.getObjectAsBytes(r -> r.bucket(bucket).key(key));
    return start + Batch.countLines(body.asByteArray());
  }

  @Override
  public OptionalLong landedUpTo(String bucket, String topic, int partition) {
    String prefix = ObjectNames.partitionPrefix(topic, partition);
    String lastKey = null;
    long lastStart = -1;
    ListObjectsV2Request request =
        ListObjectsV2Request.builder().bucket(bucket).prefix(prefix).build();
    for (S3Object object : s3.listObjectsV2Paginator(request).contents()) {
      OptionalLong start = ObjectNames.startOffset(object.key(), topic, partition);
      if (start.isPresent() && start.getAsLong() > lastStart) {
        lastStart = start.getAsLong();
        lastKey = object.key();
      }
    }
    if (lastKey == null) {
      return OptionalLong.empty();
    }
    return OptionalLong.of(nextOffsetOf(bucket, lastKey, lastStart));
  }

  @Override
  public void close() {
    s3.close();
  }
}
