package local.pipeline.connect.s3;

import java.util.Map;
import org.apache.kafka.common.config.AbstractConfig;
import org.apache.kafka.common.config.ConfigDef;
import org.apache.kafka.common.config.ConfigDef.Importance;
import org.apache.kafka.common.config.ConfigDef.Type;
import org.apache.kafka.common.config.types.Password;

/** The connector's keys: Confluent's S3 sink names, so an MSK Connect configuration carries over. */
public final class S3SinkConfig extends AbstractConfig {
  public static final String BUCKET = "s3.bucket.name";
  public static final String REGION = "s3.region";
  public static final String STORE_URL = "store.url";
  public static final String PATH_STYLE = "s3.path.style.access.enabled";
  public static final String ACCESS_KEY = "aws.access.key.id";
  public static final String SECRET_KEY = "aws.secret.access.key";
  public static final String FLUSH_SIZE = "flush.size";
  public static final String ROTATE_INTERVAL = "rotate.interval.ms";
  public static final String ROTATE_SCHEDULE = "rotate.schedule.interval.ms";
  public static final String TIMESTAMP_EXTRACTOR = "timestamp.extractor";

  public static final ConfigDef CONFIG =
      new ConfigDef()
          .define(
              BUCKET,
              Type.STRING,
              "",
              Importance.HIGH,
              "The bucket every topic lands in; empty or holding ${user_id}: the bucket of the"
                  + " topic's namespace, user-<user_id>-bucket for topic <user_id>.<table>.")
          .define(REGION, Type.STRING, "us-east-1", Importance.MEDIUM, "The bucket's region.")
          .define(
              STORE_URL,
              Type.STRING,
              "",
              Importance.HIGH,
              "An S3-compatible endpoint (e.g. http://127.0.0.1:9000); empty: AWS's own.")
          .define(
              PATH_STYLE,
              Type.BOOLEAN,
              true,
              Importance.MEDIUM,
              "Path-style addressing (http://host/bucket/key), which local stores need.")
          .define(
              ACCESS_KEY,
              Type.STRING,
              "",
              Importance.HIGH,
              "Access key id; empty: the AWS SDK's default credentials chain.")
          .define(SECRET_KEY, Type.PASSWORD, "", Importance.HIGH, "Secret access key.")
          .define(
              FLUSH_SIZE,
              Type.INT,
              1000,
              ConfigDef.Range.atLeast(1),
              Importance.HIGH,
              "Records per object: an object is written once it holds this many.")
          .define(
              ROTATE_INTERVAL,
              Type.LONG,
              -1L,
              Importance.MEDIUM,
              "Rotate when an arriving record's time is this far past the object's first record"
                  + " (time from timestamp.extractor); -1: off.")
          .define(
              ROTATE_SCHEDULE,
              Type.LONG,
              -1L,
              Importance.MEDIUM,
              "Rotate an object open for this long by the wall clock, even if no record"
                  + " arrives; -1: off.")
          .define(
              TIMESTAMP_EXTRACTOR,
              Type.STRING,
              "Wallclock",
              ConfigDef.ValidString.in("Wallclock", "Record"),
              Importance.LOW,
              "The time rotate.interval.ms compares: the task's clock or the record's timestamp.");

  public S3SinkConfig(Map<String, String> props) {
    super(CONFIG, props);
  }

  public String bucket() {
    return getString(BUCKET);
  }

  public String region() {
    return getString(REGION);
  }

  public String storeUrl() {
    return getString(STORE_URL);
  }

  public boolean pathStyle() {
    return getBoolean(PATH_STYLE);
  }

  public String accessKey() {
    return getString(ACCESS_KEY);
  }

  public String secretKey() {
    Password p = getPassword(SECRET_KEY);
    return p == null ? "" : p.value();
  }

  public int flushSize() {
    return getInt(FLUSH_SIZE);
  }

  public long rotateIntervalMs() {
    return getLong(ROTATE_INTERVAL);
  }

  public long rotateScheduleMs() {
    return getLong(ROTATE_SCHEDULE);
  }

  public boolean recordTime() {
    return "Record".equals(getString(TIMESTAMP_EXTRACTOR));
  }
}
