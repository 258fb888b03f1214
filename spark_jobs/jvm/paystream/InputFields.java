package paystream;

import java.util.function.ToIntFunction;
import org.apache.spark.sql.Row;

/** Column positions of a stage's input rows, found by name (both stages' rows share them). */
final class InputFields implements java.io.Serializable {
  final int partition;
  final int offset;
  final int transactionId;
  final int userId;
  final int cardId;
  final int amountEur;
  final int merchantId;
  final int channel;
  final int lat;
  final int lon;
  final int city;
  final int eventMs;
  final int kafkaMs;
  final int payloadSha256;
  final int elevated;
  final int merchantCategory;

  InputFields(ToIntFunction<String> index) {
    partition = index.applyAsInt("source_partition");
    offset = index.applyAsInt("source_offset");
    transactionId = index.applyAsInt("transaction_id");
    userId = index.applyAsInt("user_id");
    cardId = index.applyAsInt("card_id");
    amountEur = index.applyAsInt("amount_eur");
    merchantId = index.applyAsInt("merchant_id");
    channel = index.applyAsInt("channel");
    lat = index.applyAsInt("lat");
    lon = index.applyAsInt("lon");
    city = index.applyAsInt("city");
    eventMs = index.applyAsInt("event_ms");
    kafkaMs = index.applyAsInt("kafka_ms");
    payloadSha256 = index.applyAsInt("payload_sha256");
    elevated = index.applyAsInt("elevated");
    merchantCategory = index.applyAsInt("merchant_category");
  }

  /** The payment a row carries, as the keyed rules read it. */
  KeyedRules.Payment payment(Row row) {
    return new KeyedRules.Payment(row.getLong(eventMs), row.getString(transactionId),
        row.getDecimal(amountEur), row.getString(merchantId), row.getString(channel),
        row.getDouble(lat), row.getDouble(lon), row.getString(city), row.getString(cardId),
        row.getString(userId), row.getLong(kafkaMs));
  }
}
