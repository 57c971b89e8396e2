package scenarios

func asymmetricPartition(env *Env) *Result        { return &Result{} }
func transferAndCampaign(env *Env) *Result        { return &Result{} }
func readScenarios() []Scenario                   { return nil }
func faultScenarios() []Scenario                  { return nil }
