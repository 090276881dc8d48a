package local.pipeline.connect.s3;

/**
 * Which bucket a topic lands in: {@code s3.bucket.name} as given, or, when it is empty or
 * holds the {@code ${user_id}} placeholder, the bucket of the topic's namespace
 * ({@code <user_id>.pin} lands in {@code user-<user_id>-bucket}, as the Python sink does).
 */
public final class Buckets {
  public static final String PLACEHOLDER = "${user_id}";
  public static final String DEFAULT_TEMPLATE = "user-" + PLACEHOLDER + "-bucket";

  private Buckets() {}

  public static String bucketFor(String topic, String configured) {
    String template = configured == null || configured.isBlank() ? DEFAULT_TEMPLATE : configured;
    if (!template.contains(PLACEHOLDER)) {
      return template;
    }
    return template.replace(PLACEHOLDER, namespaceOf(topic));
  }

  /** {@code <user_id>.<table>} gives {@code <user_id>}. */
  public static String namespaceOf(String topic) {
    int dot = topic.lastIndexOf('.');
    if (dot <= 0) {
      throw new IllegalArgumentException(
          "topic '"
              + topic
              + "' is not named <user_id>.<table>, so no bucket can be derived from it: set "
              + S3SinkConfig.BUCKET
              + " to the bucket it should land in");
    }
    return topic.substring(0, dot);
  }
}
