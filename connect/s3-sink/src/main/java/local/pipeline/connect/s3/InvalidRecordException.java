package local.pipeline.connect.s3;

/** A record value that cannot be written as one line of JSON; it goes to the dead-letter queue. */
public class InvalidRecordException extends Exception {
  public InvalidRecordException(String message) {
    super(message);
  }
}
