package store

// queries are the hot SQL statements, rendered for the schema once at Open.
type queries struct {
	subscriptionStats string
	subscriberStats   string
	park              string
	claimFast         string
	claimFull         string
	unlock            string
	deleteRow         string
	reschedule        string
	stillParked       string
}

func renderQueries(render func(string) string) queries {
	fast, full := claimQueries(render)
	return queries{
		claimFast:         fast,
		claimFull:         full,
		subscriptionStats: render(subscriptionStatsSQL),
		subscriberStats:   render(subscriberStatsSQL),
		park:              render(parkSQL),
		unlock:            render(unlockSQL),
		deleteRow:         render(deleteRowSQL),
		reschedule:        render(rescheduleSQL),
		stillParked:       render(stillParkedSQL),
	}
}
