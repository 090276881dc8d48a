package local.pipeline.connect.s3;

import java.util.OptionalLong;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Where records land: Confluent's S3 sink layout, the same as services/landing/layout.py,
 * {@code topics/<topic>/partition=<p>/<topic>+<p>+<start offset, 10 digits>.json}. An object
 * always covers contiguous offsets, so line i of an object starting at s is offset s + i.
 */
public final class ObjectNames {
  public static final String TOPICS_PREFIX = "topics/";

  private ObjectNames() {}

  public static String partitionPrefix(String topic, int partition) {
    return TOPICS_PREFIX + topic + "/partition=" + partition + "/";
  }

  public static String key(String topic, int partition, long startOffset) {
    if (startOffset < 0) {
      throw new IllegalArgumentException("start offset " + startOffset + " is negative");
    }
    return partitionPrefix(topic, partition)
        + topic
        + "+"
        + partition
        + "+"
        + String.format("%010d", startOffset)
        + ".json";
  }

  /** The start offset of an object of this topic partition, or empty if the key is not one. */
  public static OptionalLong startOffset(String key, String topic, int partition) {
    String prefix = partitionPrefix(topic, partition) + topic + "+" + partition + "+";
    if (!key.startsWith(prefix)) {
      return OptionalLong.empty();
    }
    Matcher m = START.matcher(key.substring(prefix.length()));
    if (!m.matches()) {
      return OptionalLong.empty();
    }
    try {
      return OptionalLong.of(Long.parseLong(m.group(1)));
    } catch (NumberFormatException e) {
      return OptionalLong.empty();
    }
  }

  private static final Pattern START = Pattern.compile("(\\d{10,})\\.json");
}
