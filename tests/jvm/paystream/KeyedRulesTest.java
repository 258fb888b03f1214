package paystream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static paystream.Fixtures.HOUR;
import static paystream.Fixtures.MINUTE;
import static paystream.Fixtures.SECOND;
import static paystream.Fixtures.T0;
import static paystream.Fixtures.cardTesting;
import static paystream.Fixtures.compromisedMerchant;
import static paystream.Fixtures.eastOf;
import static paystream.Fixtures.flagged;
import static paystream.Fixtures.hits;
import static paystream.Fixtures.impossibleTravel;
import static paystream.Fixtures.pay;
import static paystream.Fixtures.velocity;
import static paystream.Fixtures.withCard;

import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** Each keyed rule on one key's payments, at its thresholds: just below, at and just above. */
class KeyedRulesTest {

  // velocity: more than max_payments (5) payments within window_seconds (60), both ends included.

  @Test
  void fivePaymentsInAMinuteAreTheLimitNotAnAlert() {
    assertEquals(List.of(), flagged(hits("velocity", velocity(), pay("p1", T0),
        pay("p2", T0 + 10 * SECOND), pay("p3", T0 + 20 * SECOND), pay("p4", T0 + 30 * SECOND),
        pay("p5", T0 + 40 * SECOND))));
  }

  @Test
  void aSixthPaymentWithinTheMinuteIsFlaggedWithItsCount() {
    List<KeyedRules.Hit> hits = hits("velocity", velocity(), pay("p1", T0),
        pay("p2", T0 + 10 * SECOND), pay("p3", T0 + 20 * SECOND), pay("p4", T0 + 30 * SECOND),
        pay("p5", T0 + 40 * SECOND), pay("p6", T0 + 50 * SECOND));
    assertEquals(List.of("p6"), flagged(hits));
    assertEquals(Map.of("payments_in_window", 6, "max_payments", 5, "window_seconds", 60L),
        hits.get(0).details());
  }

  @Test
  void velocityWindowIncludesAPaymentExactlyWindowSecondsEarlier() {
    assertEquals(List.of("p6"), flagged(hits("velocity", velocity(), pay("p1", T0),
        pay("p2", T0 + 10 * SECOND), pay("p3", T0 + 20 * SECOND), pay("p4", T0 + 30 * SECOND),
        pay("p5", T0 + 40 * SECOND), pay("p6", T0 + 60 * SECOND))));
  }

  @Test
  void velocityWindowExcludesAPaymentOneMillisecondTooEarly() {
    assertEquals(List.of(), flagged(hits("velocity", velocity(), pay("p1", T0),
        pay("p2", T0 + 10 * SECOND), pay("p3", T0 + 20 * SECOND), pay("p4", T0 + 30 * SECOND),
        pay("p5", T0 + 40 * SECOND), pay("p6", T0 + 60 * SECOND + 1))));
  }

  // card_testing: ecommerce payments of at most 2.00 at 4 or more merchants within 300 s.

  @Test
  void tinyOnlinePaymentsAtThreeMerchantsAreNotCardTesting() {
    assertEquals(List.of(), flagged(hits("card_testing", cardTesting(),
        pay("t1", T0, "0.99", "m1", "ecommerce"), pay("t2", T0 + 10 * SECOND, "0.99", "m2",
            "ecommerce"), pay("t3", T0 + 20 * SECOND, "0.99", "m3", "ecommerce"))));
  }

  @Test
  void aFourthMerchantAtTheCeilingAmountIsCardTesting() {
    List<KeyedRules.Hit> hits = hits("card_testing", cardTesting(),
        pay("t1", T0, "0.99", "m1", "ecommerce"),
        pay("t2", T0 + 10 * SECOND, "0.99", "m2", "ecommerce"),
        pay("t3", T0 + 20 * SECOND, "0.99", "m3", "ecommerce"),
        pay("t4", T0 + 30 * SECOND, "2.00", "m4", "ecommerce"));
    assertEquals(List.of("t4"), flagged(hits));
    assertEquals(Map.of("distinct_merchants", 4, "max_amount_eur", "2.00"), hits.get(0).details());
  }

  @Test
  void aCentAboveTheCeilingIsNotATinyPayment() {
    assertEquals(List.of(), flagged(hits("card_testing", cardTesting(),
        pay("t1", T0, "2.00", "m1", "ecommerce"),
        pay("t2", T0 + 10 * SECOND, "2.00", "m2", "ecommerce"),
        pay("t3", T0 + 20 * SECOND, "2.00", "m3", "ecommerce"),
        pay("t4", T0 + 30 * SECOND, "2.01", "m4", "ecommerce"))));
  }

  @Test
  void tinyCardPresentPaymentsAndRepeatedMerchantsDoNotCount() {
    assertEquals(List.of(), flagged(hits("card_testing", cardTesting(),
        pay("t1", T0, "0.99", "m1", "ecommerce"),
        pay("t2", T0 + 10 * SECOND, "0.99", "m2", "ecommerce"),
        pay("t3", T0 + 20 * SECOND, "0.99", "m2", "ecommerce"),
        pay("t4", T0 + 30 * SECOND, "0.99", "m3", "ecommerce"),
        pay("t5", T0 + 40 * SECOND, "0.99", "m4", "contactless"))));
  }

  @Test
  void cardTestingWindowIncludesItsStartAndNotAMillisecondBefore() {
    KeyedRules.Payment t1 = pay("t1", T0, "0.50", "m1", "ecommerce");
    KeyedRules.Payment t2 = pay("t2", T0 + MINUTE, "0.50", "m2", "ecommerce");
    KeyedRules.Payment t3 = pay("t3", T0 + 2 * MINUTE, "0.50", "m3", "ecommerce");
    assertEquals(List.of("t4"), flagged(hits("card_testing", cardTesting(), t1, t2, t3,
        pay("t4", T0 + 300 * SECOND, "0.50", "m4", "ecommerce"))));
    assertEquals(List.of(), flagged(hits("card_testing", cardTesting(), t1, t2, t3,
        pay("t4", T0 + 300 * SECOND + 1, "0.50", "m4", "ecommerce"))));
  }

  // impossible_travel: card-present payments >= 500 km apart, faster than 900 km/h, within 12 h.

  @Test
  void athousandKilometresInAnHourIsImpossibleTravel() {
    List<KeyedRules.Hit> hits = hits("impossible_travel", impossibleTravel(),
        eastOf("a", T0, 0, "Here", "pos"), eastOf("b", T0 + HOUR, 1000, "There", "contactless"));
    assertEquals(List.of("b"), flagged(hits));
    assertEquals(Map.of("previous_transaction_id", "a", "previous_city", "Here", "city", "There",
        "distance_km", 1000.0, "speed_kmh", 1000.0), hits.get(0).details());
  }

  @Test
  void travelJustBelowTheSpeedLimitIsAllowedAndJustAboveIsNot() {
    long at899Kmh = Math.round(1000.0 / 899 * HOUR);
    long at901Kmh = Math.round(1000.0 / 901 * HOUR);
    assertEquals(List.of(), flagged(hits("impossible_travel", impossibleTravel(),
        eastOf("a", T0, 0, "Here", "pos"), eastOf("b", T0 + at899Kmh, 1000, "There", "pos"))));
    assertEquals(List.of("b"), flagged(hits("impossible_travel", impossibleTravel(),
        eastOf("a", T0, 0, "Here", "pos"), eastOf("b", T0 + at901Kmh, 1000, "There", "pos"))));
  }

  @Test
  void travelBelowTheMinimumDistanceIsNeverJudgedHoweverFast() {
    assertEquals(List.of(), flagged(hits("impossible_travel", impossibleTravel(),
        eastOf("a", T0, 0, "Here", "pos"), eastOf("b", T0 + MINUTE, 499, "There", "pos"))));
    assertEquals(List.of("b"), flagged(hits("impossible_travel", impossibleTravel(),
        eastOf("a", T0, 0, "Here", "pos"), eastOf("b", T0 + MINUTE, 501, "There", "pos"))));
  }

  @Test
  void onlyCardPresentPaymentsHaveAPlace() {
    assertEquals(List.of(), flagged(hits("impossible_travel", impossibleTravel(),
        eastOf("a", T0, 0, "Here", "ecommerce"), eastOf("b", T0 + HOUR, 1000, "There", "atm"))));
    assertEquals(List.of(), flagged(hits("impossible_travel", impossibleTravel(),
        eastOf("a", T0, 0, "Here", "atm"), eastOf("b", T0 + HOUR, 1000, "There", "ecommerce"))));
  }

  @Test
  void lookbackIncludesExactlyTwelveHoursAndNotAMillisecondMore() {
    // 11,000 km in 12 h is 916.7 km/h: too fast, if the earlier payment is still looked at.
    assertEquals(List.of("b"), flagged(hits("impossible_travel", impossibleTravel(),
        eastOf("a", T0, 0, "Here", "pos"), eastOf("b", T0 + 12 * HOUR, 11000, "Far", "pos"))));
    assertEquals(List.of(), flagged(hits("impossible_travel", impossibleTravel(),
        eastOf("a", T0, 0, "Here", "pos"), eastOf("b", T0 + 12 * HOUR + 1, 11000, "Far", "pos"))));
  }

  // compromised_merchant: elevated tickets of 6 or more distinct cards at a merchant in 900 s.

  @Test
  void fiveDistinctCardsAreBelowTheCompromisedMerchantThreshold() {
    assertEquals(List.of(), flagged(hits("compromised_merchant", compromisedMerchant(),
        withCard("e1", T0, "c1"), withCard("e2", T0 + MINUTE, "c2"),
        withCard("e3", T0 + 2 * MINUTE, "c3"), withCard("e4", T0 + 3 * MINUTE, "c4"),
        withCard("e5", T0 + 4 * MINUTE, "c5"), withCard("e6", T0 + 5 * MINUTE, "c5"))));
  }

  @Test
  void aSixthDistinctCardFlagsTheMerchant() {
    List<KeyedRules.Hit> hits = hits("compromised_merchant", compromisedMerchant(),
        withCard("e1", T0, "c1"), withCard("e2", T0 + MINUTE, "c2"),
        withCard("e3", T0 + 2 * MINUTE, "c3"), withCard("e4", T0 + 3 * MINUTE, "c4"),
        withCard("e5", T0 + 4 * MINUTE, "c5"), withCard("e6", T0 + 15 * MINUTE, "c6"),
        withCard("e7", T0 + 15 * MINUTE + 1, "c7"));
    // e6 sees e1..e6 (e1 exactly 900 s earlier); e7 no longer sees e1 but still six cards.
    assertEquals(List.of("e6", "e7"), flagged(hits));
    assertEquals(Map.of("distinct_cards", 6, "ticket_multiple", "4.0"), hits.get(0).details());
  }

  @Test
  void travelDetailsRoundHalfUpAsSparkRoundDoes() {
    // Spark SQL: round(1000.25D, 1) = 1000.3, round(0.25D, 1) = 0.3, round(2.65D, 1) = 2.7.
    assertEquals(1000.3, KeyedRules.round1(1000.25));
    assertEquals(0.3, KeyedRules.round1(0.25));
    assertEquals(2.7, KeyedRules.round1(2.65));
    assertEquals(-0.3, KeyedRules.round1(-0.25));
  }
}
