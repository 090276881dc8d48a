package local.pipeline.connect.s3;

import java.io.ByteArrayOutputStream;
import java.util.List;

/** Records {@code startOffset .. startOffset + lines.size() - 1} of one partition: one object. */
public record Batch(String topic, int partition, long startOffset, List<byte[]> lines) {
  public Batch {
    lines = List.copyOf(lines);
    if (lines.isEmpty()) {
      throw new IllegalArgumentException("a batch holds at least one record");
    }
  }

  public long endOffset() {
    return startOffset + lines.size() - 1;
  }

  public long nextOffset() {
    return startOffset + lines.size();
  }

  /** The part of this batch at offset and after: a new object, named for offset. */
  public Batch fromOffset(long offset) {
    if (offset <= startOffset || offset >= nextOffset()) {
      throw new IllegalArgumentException(
          "offset " + offset + " does not cut " + startOffset + ".." + endOffset());
    }
    List<byte[]> rest = lines.subList((int) (offset - startOffset), lines.size());
    return new Batch(topic, partition, offset, rest);
  }

  public String key() {
    return ObjectNames.key(topic, partition, startOffset);
  }

  /** Confluent's JSON format: every record, the last one included, ends with a newline. */
  public byte[] body() {
    int size = 0;
    for (byte[] line : lines) {
      size += line.length + 1;
    }
    ByteArrayOutputStream out = new ByteArrayOutputStream(size);
    for (byte[] line : lines) {
      out.writeBytes(line);
      out.write('\n');
    }
    return out.toByteArray();
  }

  /** How many lines an object body holds (a missing final newline still counts its line). */
  public static int countLines(byte[] body) {
    int n = 0;
    for (byte b : body) {
      if (b == '\n') {
        n++;
      }
    }
    if (body.length > 0 && body[body.length - 1] != '\n') {
      n++;
    }
    return n;
  }
}
