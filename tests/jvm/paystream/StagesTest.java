package paystream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

/** What both stages share and every sink relies on: the alert id and the merchant bucket. */
class StagesTest {

  @Test
  void anAlertIdIsTheFirst32HexDigitsOfSha256OfRuleAndTransaction() {
    // printf 'velocity:tx1' | sha256sum | cut -c1-32
    assertEquals("a2134dba4922a828f03fc932037b6cbd", Stages.alertId("velocity", "tx1"));
  }

  @Test
  void aMerchantsBucketIsStableAndInRangeAndANullMerchantGoesToBucketZero() {
    assertEquals(0, Stages.merchantBucket(null, 8));
    // "polygenelubricants".hashCode() is Integer.MIN_VALUE, where Math.abs would stay negative.
    for (String merchant : new String[] {"m1", "m-2", "polygenelubricants", "\u00e9picerie"}) {
      int bucket = Stages.merchantBucket(merchant, 5);
      assertTrue(bucket >= 0 && bucket < 5, merchant + " -> " + bucket);
      assertEquals(bucket, Stages.merchantBucket(merchant, 5));
    }
  }
}
