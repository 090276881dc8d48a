package local.pipeline.connect.s3;

import java.util.OptionalLong;

/** What the task needs from S3; an interface so the task's logic can be tested without one. */
public interface ObjectStore extends AutoCloseable {
  /**
   * Store the batch unless its key exists (a conditional PUT: an object is never replaced).
   * Empty when stored; else the offset after the last record of the object already there.
   */
  OptionalLong putIfAbsent(String bucket, Batch batch);

  /** The offset after the last record of this partition already in the bucket, if any landed. */
  OptionalLong landedUpTo(String bucket, String topic, int partition);

  @Override
  void close();
}
